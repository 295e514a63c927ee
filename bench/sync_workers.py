"""``sync --workers``: how many actors to fetch at once, on loopback and from far away.

Seeds ``--actors`` Layers-only actors of ``--records`` records each on the local
reference PDS, then syncs them all (repository and lake, through the library in this
process, best of ``--repeat``) with 1, 2, 4 and 8 workers:

* **loopback**: the PDS on this machine, so fetching competes with the PDS for the cores;
* **remote**: every XRPC call first waits ``--rtt`` seconds and every downloaded body
  flows at ``--mbps`` megabits per second (a client wrapper, no traffic leaves loopback),
  standing in for a PDS across the internet.

Each line prints the seconds and the ratio to one worker, so the default (4) can be
checked against both cases on the machine at hand.

    .venv/bin/python bench/sync_workers.py [--actors 16] [--records 600] [--rtt 0.05] [--mbps 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.limits import Budget, FetchLimits
from lairs_etl.atproto.xrpc import JsonValue, Params, XrpcClient
from lairs_etl.demo.seed import actor_records, seed_actor
from lairs_etl.localpds import LocalPds
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, SyncOptions, Target, sync

WORKERS = (1, 2, 4, 8)


class _Slow:
    """A sink that lets bytes through at a set rate (the download's bandwidth)."""

    def __init__(self, sink: BinaryIO, bytes_per_second: float) -> None:
        self._sink = sink
        self._rate = bytes_per_second

    def write(self, data: bytes) -> int:
        time.sleep(len(data) / self._rate)
        return self._sink.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sink, name)


class RemoteClient:
    """A :class:`Client` that adds a round trip to each call and caps download bandwidth."""

    def __init__(self, client: Client, rtt: float, bytes_per_second: float) -> None:
        self._client = client
        self._rtt = rtt
        self._rate = bytes_per_second

    @property
    def limits(self) -> FetchLimits:
        return self._client.limits

    def query(
        self, service_url: str, nsid: str, params: Params | None = None, *, budget: Budget | None = None
    ) -> JsonValue:
        time.sleep(self._rtt)
        return self._client.query(service_url, nsid, params, budget=budget)

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
        budget: Budget | None = None,
    ) -> int:
        time.sleep(self._rtt)
        slow = _Slow(sink, self._rate)
        return self._client.download(
            service_url,
            nsid,
            params,
            slow,  # type: ignore[arg-type]  # the part of the file API the client uses
            max_bytes=max_bytes,
            budget=budget,
        )


def _run(pds: LocalPds, dids: list[str], workers: int, remote: tuple[float, float] | None) -> float:
    with tempfile.TemporaryDirectory() as tmp, XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
        used: Client = client if remote is None else RemoteClient(client, *remote)
        started = time.perf_counter()
        report = sync(
            [Target(did) for did in dids],
            client=used,
            resolver=resolver,
            repository=Repository.init(str(Path(tmp) / "repo")),
            lake=LakeTarget(str(Path(tmp) / "lake")),
            options=SyncOptions(workers=workers, tracked=record_types()),
        )
        seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"sync failed: {report.to_json()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, default=16)
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--rtt", type=float, default=0.05, help="Seconds added to every call (remote).")
    parser.add_argument("--mbps", type=float, default=100.0, help="Download megabits per second (remote).")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with LocalPds() as pds:
        dids = []
        per_type = -(-args.records // len(record_types()))
        started = time.perf_counter()
        for i in range(args.actors):
            account = pds.create_account(f"worker{i:02d}.test")
            planned, broken = actor_records(account.did, records_per_type=per_type, fill=1, clock_id=i + 1)
            seed_actor(account, planned[: args.records], broken)
            dids.append(str(account.did))
        print(
            f"seeded {args.actors} actors x {args.records} records in {time.perf_counter() - started:.0f} s"
        )
        cases: dict[str, tuple[float, float] | None] = {
            "loopback": None,
            f"remote (rtt {args.rtt * 1000:.0f} ms, {args.mbps:.0f} Mbit/s)": (args.rtt, args.mbps * 125_000),
        }
        for name, remote in cases.items():
            best = {w: min(_run(pds, dids, w, remote) for _ in range(args.repeat)) for w in WORKERS}
            print(f"\n{name}: sync of {args.actors} actors, best of {args.repeat}")
            for w in WORKERS:
                print(f"  workers {w}:  {best[w]:6.2f} s   {best[1] / best[w]:4.2f}x the speed of 1 worker")


if __name__ == "__main__":
    main()
