"""The sensors' and the schedule's ticks over N registered actors against a local PDS host.

The server (plain ``http.server`` on loopback) hosts N synthetic repositories, pages
``com.atproto.sync.listRepos`` 1,000 at a time like a PDS, and answers ``describeRepo``
(every repository holds a Layers collection). The Dagster instance (SQLite in a
temporary DAGSTER_HOME) registers all N actors. Timed:

* change sensor, cold tick: no cursor, empty repository: every actor is new,
  ``max_runs_per_tick`` actors are requested and the cursor records what was seen;
* change sensor, warm tick: 25 actors' revs moved since: exactly those are requested
  (one run each, or per shard and host with ``--actor-shards``);
* discovery tick: the host lists 1,000 repositories more than are registered: each is
  described and added (the per-tick cap), the rest are known and skipped;
* schedule tick: the full-refresh request over every actor (or shard);
* baseline: the same number of ``listRepos`` pages fetched and parsed bare (the
  irreducible network+parse cost), so the ratio shows the sensor's own overhead.

Peak RSS of the process is reported against the 1 GB budget (30 s for a tick).

    .venv/bin/python bench/change_sensor.py [--actors 5000] [--actor-shards 256]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from dagster import DagsterInstance

from lairs_etl.atproto.probes import list_repos
from lairs_etl.atproto.tid import tid_from_parts
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import LairsSettings, build_definitions
from lairs_etl.dagster.constants import ACTORS_PARTITIONS, ACTORS_TAG
from lairs_etl.dagster.inprocess import schedule_run_requests, tick_sensor

_NEW = 1000

_HEAD = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32) for _ in range(24))


class _Repos:
    def __init__(self, count: int) -> None:
        rng = random.Random(7)
        self.dids = sorted({_did(rng) for _ in range(count)})
        base = 1_700_000_000_000_000
        self.revs = {d: str(tid_from_parts(base + i, 0)) for i, d in enumerate(self.dids)}
        self.lock = threading.Lock()

    def bump(self, dids: list[str]) -> None:
        with self.lock:
            for n, did in enumerate(dids):
                self.revs[did] = str(tid_from_parts(1_800_000_000_000_000 + n, 0))

    def page(self, cursor: str | None, limit: int) -> dict[str, object]:
        start = int(cursor or 0)
        with self.lock:
            rows = [
                {"did": d, "head": _HEAD, "rev": self.revs[d], "active": True}
                for d in self.dids[start : start + limit]
            ]
        out: dict[str, object] = {"repos": rows}
        if start + limit < len(self.dids):
            out["cursor"] = str(start + limit)
        return out


def _serve(repos: _Repos) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path == "/xrpc/com.atproto.repo.describeRepo":
                did = query["repo"][0]
                answer: object = {
                    "did": did,
                    "handle": "handle.invalid",
                    "didDoc": {},
                    "collections": ["pub.layers.expression.expression"],
                    "handleIsCorrect": False,
                }
            elif url.path == "/xrpc/com.atproto.sync.listRepos":
                cursor, limit = query.get("cursor", [None])[0], int(query.get("limit", ["1000"])[0])
                answer = repos.page(cursor, limit)
            else:
                self.send_error(404)
                return
            body = json.dumps(answer)
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, default=5000)
    parser.add_argument("--actor-shards", type=int, default=None)
    args = parser.parse_args()
    repos = _Repos(args.actors + _NEW)
    registered = repos.dids[: args.actors]
    server = _serve(repos)
    host = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        settings = LairsSettings.model_validate(
            {
                "atproto": {"allow_private_hosts": True},
                "repository": {"url": str(root / "repo")},
                "lake": {"url": str(root / "lake")},
                "discovery": {"pds_hosts": [host]},
                "refresh": {"actor_shards": args.actor_shards},
            }
        )
        defs = build_definitions(settings)
        with DagsterInstance.from_config(str(home)) as instance:
            for start in range(0, len(registered), 10_000):
                instance.add_dynamic_partitions(ACTORS_PARTITIONS, registered[start : start + 10_000])
            started = time.perf_counter()
            cold = tick_sensor(defs, "lairs_changes", instance)
            cold_s = time.perf_counter() - started
            moved = random.Random(3).sample(registered, 25)
            # the cold tick capped its requests; move on the cursor as if every actor had run
            state = json.loads(cold.cursor or "{}")
            state["revs"] = {d: repos.revs[d] for d in repos.dids}
            repos.bump(moved)
            started = time.perf_counter()
            warm = tick_sensor(defs, "lairs_changes", instance, json.dumps(state))
            warm_s = time.perf_counter() - started
            started = time.perf_counter()
            found = tick_sensor(defs, "lairs_discovery", instance)
            discovery_s = time.perf_counter() - started
            started = time.perf_counter()
            (scheduled,) = schedule_run_requests(defs, "lairs_refresh", instance)
            schedule_s = time.perf_counter() - started
        started = time.perf_counter()
        with XrpcClient(allow_private_hosts=True) as client:
            listed = sum(1 for _ in list_repos(client, host))
        bare_s = time.perf_counter() - started
    server.shutdown()
    server.server_close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.actor_shards:
        requested = {d for r in warm.run_requests for d in r.tags[ACTORS_TAG].split()}
    else:
        requested = {r.run_key.split("@")[0] for r in warm.run_requests if r.run_key}
    assert requested == set(moved), "the warm tick must request exactly the moved actors"
    assert listed == args.actors + _NEW
    assert len(found.added) == _NEW, "discovery must add exactly the unregistered repositories"
    assert scheduled.tags["dagster/asset_partition_range_start"]
    layout = f"{args.actor_shards} actor shards" if args.actor_shards else "actor x collection"
    print(f"registered actors:        {args.actors} ({layout})")
    print(
        f"cold tick:                {cold_s:6.2f} s, {len(cold.run_requests)} runs requested (cap per tick)"
    )
    print(f"warm tick:                {warm_s:6.2f} s, {len(warm.run_requests)} runs requested (25 moved)")
    print(f"discovery tick:           {discovery_s:6.2f} s, {len(found.added)} actors added")
    print(f"schedule tick:            {schedule_s:6.2f} s, 1 run over every partition")
    print(f"bare listRepos baseline:  {bare_s:6.2f} s")
    print(f"warm tick / baseline:     {warm_s / bare_s:6.1f}x")
    print(
        f"peak RSS:                 {peak_mb:6.0f} MB (budget 1024 MB); tick budget 30 s: "
        f"{'OK' if max(cold_s, warm_s, discovery_s, schedule_s) < 30 and peak_mb < 1024 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
