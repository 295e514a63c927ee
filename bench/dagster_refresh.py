"""A full refresh of 20 actors × all 26 collections through Dagster vs the library pull.

Seeds 20 actors on the local reference PDS (``--records-per-type`` records of every type
each, two invalid), then times, in the same process and against the same corpus:

* baseline: ``lairs_etl.repo.pull.pull`` of every actor into a fresh repository (fetch,
  verify, validate-count, commit: the library path without Dagster);
* dagster: the refresh schedule's run (one single-run backfill over the whole
  actor × collection rectangle, plus the snapshot) executed in-process against a
  SQLite DAGSTER_HOME, writing a fresh repository and the Parquet lake, with
  per-partition metadata and checks.

Each is run ``--repeat`` times (fresh outputs each time), best kept; the target is a
ratio of at most 1.5.

    .venv/bin/python bench/dagster_refresh.py [--actors 20] [--records-per-type 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import LairsSettings, build_definitions
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests
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


def _dagster(pds: LocalPds, dids: list[str], root: Path, workers: int) -> tuple[float, int]:
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    settings = LairsSettings.model_validate({
        "atproto": {"plc_url": pds.plc_url, "handle_service": pds.pds_url, "allow_private_hosts": True},
        "repository": {"url": str(root / "repo")}, "lake": {"url": str(root / "lake")},
        "refresh": {"workers": workers},
    })
    defs = build_definitions(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, dids)
        (request,) = schedule_run_requests(defs, "lairs_refresh", instance)
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
    args = parser.parse_args()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    with LocalPds() as pds:
        corpus = seed_corpus(pds, actors=args.actors, records_per_type=args.records_per_type, prefix="bench")
        dids = [str(d) for d in corpus.dids]
        pulls, runs = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                pulls.append(_pull(pds, dids, Path(tmp)))
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(_dagster(pds, dids, Path(tmp), args.workers))
    pull_s = min(pulls)
    run_s, events = min(runs)
    partitions = args.actors * len(record_types())
    print(f"corpus:            {args.actors} actors x {len(record_types())} collections = {partitions} partitions, "
          f"{corpus.records} records ({corpus.invalid} invalid)")
    print(f"library pull:      {pull_s:6.2f} s   (best of {args.repeat}: {', '.join(f'{s:.2f}' for s in pulls)})")
    print(f"dagster refresh:   {run_s:6.2f} s   (best of {args.repeat}: {', '.join(f'{s:.2f}' for s, _ in runs)}; "
          f"{events} materializations, {args.workers} workers)")
    print(f"ratio dagster/pull: {run_s / pull_s:5.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
