"""A full refresh of 20 actors x all 26 collections through Dagster vs the library pull.

Seeds 20 actors on the local reference PDS (``--records-per-type`` records of every type
each, two invalid), then times, in the same process and against the same corpus:

* baseline: ``lairs_etl.repo.pull.pull`` of every actor into a fresh repository (fetch,
  verify, validate-count, commit: the library path without Dagster);
* dagster: the refresh schedule's run (one single-run backfill over the whole
  actor x collection rectangle, plus the snapshot) executed in-process, writing a fresh
  repository and the Parquet lake, with per-partition metadata and checks.

Dagster stores ~8 events per partition (planned and materialized, four assets), each a
SQLite commit with an fsync, so the instance's storage is named in the output:
``shm`` (SQLite DAGSTER_HOME on tmpfs: Dagster's own cost without the disk's fsync
latency; the default), ``memory`` (an ephemeral in-memory instance) and ``disk``
(SQLite DAGSTER_HOME on the working disk).

Each is run ``--repeat`` times (fresh outputs each time), best kept; the target is a
ratio of at most 1.5.

    .venv/bin/python bench/dagster_refresh.py [--actors 20] [--records-per-type 4] [--repeat 2]
        [--storage shm memory disk]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from dagster import AssetsDefinition, DagsterInstance

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import LairsSettings, build_definitions
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.dagster.inprocess import execute_run_request
from lairs_etl.dagster.schedule import full_refresh_request
from lairs_etl.demo import seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.records import record_types
from lairs_etl.repo.pull import pull
from lairs_etl.repo.repository import Repository


def _pull(pds: LocalPds, dids: list[str], root: Path) -> float:
    repo = Repository.init(str(root / "pulled"))
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
        started = time.perf_counter()
        report = pull(repo, dids, client=client, resolver=resolver, collections=record_types())
        seconds = time.perf_counter() - started
    assert report.ok, report.to_json()
    return seconds


def _instance(storage: str, home: Path) -> DagsterInstance:
    if storage == "memory":
        return DagsterInstance.ephemeral()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(home))


def _dagster(pds: LocalPds, dids: list[str], root: Path, workers: int, storage: str) -> tuple[float, int]:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if storage == "shm" and shm.is_dir() else root) as home_root:
        return _run(pds, dids, root, workers, _instance(storage, Path(home_root) / "dagster_home"))


def _run(
    pds: LocalPds, dids: list[str], root: Path, workers: int, instance: DagsterInstance
) -> tuple[float, int]:
    settings = LairsSettings.model_validate(
        {
            "atproto": {"plc_url": pds.plc_url, "handle_service": pds.pds_url, "allow_private_hosts": True},
            "repository": {"url": str(root / "repo")},
            "lake": {"url": str(root / "lake")},
            "refresh": {"workers": workers},
        }
    )
    defs = build_definitions(settings)
    with instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, dids)
        keys = [k for a in defs.assets or () if isinstance(a, AssetsDefinition) for k in a.keys]
        request = full_refresh_request(dids, record_types(), keys)  # what the schedule requests
        started = time.perf_counter()
        result = execute_run_request(defs, request, instance)
        seconds = time.perf_counter() - started
    assert result.success
    events = len(result.get_asset_materialization_events())
    return seconds, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, default=20)
    parser.add_argument("--records-per-type", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--storage", nargs="+", choices=["shm", "memory", "disk"], default=["shm", "memory"])
    args = parser.parse_args()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    with LocalPds() as pds:
        corpus = seed_corpus(pds, actors=args.actors, records_per_type=args.records_per_type, prefix="bench")
        dids = [str(d) for d in corpus.dids]
        pulls: list[float] = []
        runs: dict[str, list[tuple[float, int]]] = {s: [] for s in args.storage}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                pulls.append(_pull(pds, dids, Path(tmp)))
            for storage in args.storage:
                with tempfile.TemporaryDirectory() as tmp:
                    runs[storage].append(_dagster(pds, dids, Path(tmp), args.workers, storage))
    pull_s = min(pulls)
    partitions = args.actors * len(record_types())
    print(
        f"corpus:            {args.actors} actors x {len(record_types())} collections = "
        f"{partitions} partitions, "
        f"{corpus.records} records ({corpus.invalid} invalid)"
    )
    print(
        f"library pull:      {pull_s:6.2f} s   (best of {args.repeat}: "
        f"{', '.join(f'{s:.2f}' for s in pulls)})"
    )
    for storage, timings in runs.items():
        run_s, events = min(timings)
        print(
            f"dagster [{storage:>6}]: {run_s:6.2f} s   (best of {args.repeat}: "
            f"{', '.join(f'{s:.2f}' for s, _ in timings)}; {events} materializations, {args.workers} workers)"
            f"  ratio {run_s / pull_s:5.2f} (target <= 1.5)"
        )


if __name__ == "__main__":
    main()
