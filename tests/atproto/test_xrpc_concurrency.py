"""The per-host concurrency bound holds when a thread pool shares one client."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from lairs_etl.atproto.xrpc import XrpcClient


class InFlight:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.now[host])
        time.sleep(0.03)
        with self.lock:
            self.now[host] -= 1
        return httpx.Response(200, json={"host": host})


def test_requests_to_one_host_never_exceed_the_bound_while_hosts_run_in_parallel() -> None:
    flight = InFlight()
    client = XrpcClient(transport=httpx.MockTransport(flight), max_concurrency_per_host=2)
    hosts = ["https://a.example.com", "https://b.example.com"]
    with client, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: client.query(hosts[i % 2], "a.b.c"), range(16)))
    answered = sorted(str(r["host"]) for r in results if isinstance(r, dict))
    assert answered == ["a.example.com"] * 8 + ["b.example.com"] * 8
    assert flight.peak == {"a.example.com": 2, "b.example.com": 2}
