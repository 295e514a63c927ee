"""A full refresh of 20 actors x all 26 collections through Dagster vs the library.

Seeds 20 actors on the local reference PDS (``--records-per-type`` records of every type
each, two invalid; one corpus per size given), then times, in the same process and
against the same corpus:

* ``pull``: ``lairs_etl.sync.sync`` of every actor into a fresh repository without the
  lake (fetch, verify, validate, commit: the library path without Dagster);
* ``library``: the same sync with the lake, then ``views.build_warehouse``: the very
  outputs the schedule's run leaves (repository, Parquet lake, DuckDB file);
* ``dagster pull``: the pull stages (``layers/fetched``, ``validated``, ``committed``)
  over the whole actor x collection rectangle as one single-run backfill, through
  Dagster in-process, with per-partition metadata and checks; compared with ``pull``;
* ``dagster refresh``: the refresh schedule's run (all four stages, then the snapshot
  and the warehouse); compared with ``library``.

Dagster records every partition of every asset as an event (four assets: 2,080
materializations for 520 partitions, plus as many "planned" events unless
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`` is set, which makes it one per
asset). Dagster's own SQLite storage writes each in its own transactions, about 10 ms
apiece whatever the partition holds. Storage: ``sqlite`` (the project's
``dagster.yaml``: Dagster's ``storage: sqlite``, on tmpfs; the default), ``postgres``
(Dagster's ``storage: postgres`` in a fresh database of a throwaway PostgreSQL cluster
on loopback, the one the tests start), ``pooled`` (the same with one pooled connection per
process: ``lairs_etl.dagster.pooled``), ``pgbouncer`` (the same, through PgBouncer in
session mode: ``_pgbouncer.py``), ``memory`` (an ephemeral instance). The output
gives the cost per partition next to the ratios.

``--actor-shards N [M …]`` runs the Dagster side in the actor-shard layout as well (N
shards x 26 collections, whatever the actor count: fewer, larger partitions, so fewer
events); ``--no-actor-layout`` skips the actor x collection layout.

Each is run ``--repeat`` times, interleaved with the baselines (fresh outputs each
time), best kept; the target is a ratio of at most 1.3.

    .venv/bin/python bench/dagster_refresh.py [--actors 20] [--records-per-type 4 40]
        [--repeat 2] [--storage sqlite postgres memory] [--planned per-partition subset]
        [--stages pull refresh] [--actor-shards 1 4] [--no-actor-layout]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

from dagster import AssetKey, AssetsDefinition, DagsterInstance, Definitions, RunRequest

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import LairsSettings, build_definitions
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.dagster.downstream import published_asset
from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests
from lairs_etl.dagster.instance import PostgresStorage, instance_yaml
from lairs_etl.dagster.partitions import PartitionLayout
from lairs_etl.demo import seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, Stage, SyncOptions, Target, sync
from lairs_etl.views import build_warehouse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.postgres import PASSWORD_ENV, PostgresServer, throwaway_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pgbouncer import pgbouncer_in_front

_PLANNED_SUBSET = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


class Urls(Protocol):
    """Where the PDS and PLC are (a :class:`LocalPds`, or one ``bench/sync.py`` serves)."""

    @property
    def pds_url(self) -> str: ...

    @property
    def plc_url(self) -> str: ...


def _library(pds: Urls, dids: list[str], root: Path) -> tuple[float, float]:
    """Seconds for the library sync without the lake, and with the lake + warehouse."""
    targets = [Target(did) for did in dids]
    timings = []
    for name, stages in (("pulled", frozenset(Stage) - {Stage.PARQUET}), ("synced", frozenset(Stage))):
        repo = Repository.init(str(root / name))
        lake = str(root / f"{name}-lake")
        with XrpcClient(allow_private_hosts=True) as client:
            resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
            started = time.perf_counter()
            report = sync(
                targets,
                client=client,
                resolver=resolver,
                repository=repo,
                lake=LakeTarget(lake),
                options=SyncOptions(tracked=record_types(), stages=stages),
            )
            if Stage.PARQUET in stages:
                build_warehouse(lake, str(root / "warehouse.duckdb"))
            timings.append(time.perf_counter() - started)
        assert report.ok, report.to_json()
    return timings[0], timings[1]


_POSTGRES: list[PostgresServer] = []
"""The throwaway cluster, once started (``--storage postgres`` or ``pgbouncer``)."""
_PG_STORAGES = ("postgres", "pooled", "pgbouncer")
"""Dagster's Postgres storage: as configured by ``storage: postgres``; with pooled
connections (:mod:`lairs_etl.dagster.pooled`); through PgBouncer."""
_BOUNCER: list[int] = []
"""PgBouncer's port in front of it (``--storage pgbouncer``)."""


def _instance(storage: str, home: Path) -> DagsterInstance:
    if storage == "memory":
        return DagsterInstance.ephemeral()
    home.mkdir()
    postgres = None
    if storage in _PG_STORAGES:
        server = _POSTGRES[0]
        database = server.database("bench")
        port = _BOUNCER[0] if storage == "pgbouncer" else server.port
        postgres = PostgresStorage(
            server.host, database, server.user, port, password_env=PASSWORD_ENV, pooled=storage == "pooled"
        )
    (home / "dagster.yaml").write_text(instance_yaml(str(home), postgres=postgres))
    return DagsterInstance.from_config(str(home))


@contextmanager
def _planned(mode: str) -> Iterator[None]:
    before = os.environ.pop(_PLANNED_SUBSET, None)
    if mode == "subset":
        os.environ[_PLANNED_SUBSET] = "true"
    try:
        yield
    finally:
        os.environ.pop(_PLANNED_SUBSET, None)
        if before is not None:
            os.environ[_PLANNED_SUBSET] = before


def _dagster(
    pds: Urls, dids: list[str], root: Path, storage: str, planned: str, stages: str, shards: int | None
) -> tuple[float, int]:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else root) as home_root:
        instance = _instance(storage, Path(home_root) / "dagster_home")
        with _planned(planned):
            return _run(pds, dids, root, instance, stages, shards)


def _run(
    pds: Urls,
    dids: list[str],
    root: Path,
    instance: DagsterInstance,
    stages: str = "refresh",
    shards: int | None = None,
) -> tuple[float, int]:
    settings = LairsSettings.model_validate(
        {
            "atproto": {"plc_url": pds.plc_url, "handle_service": pds.pds_url, "allow_private_hosts": True},
            "repository": {"url": str(root / "repo")},
            "lake": {"url": str(root / "lake")},
            "refresh": {"actor_shards": shards},
        }
    )
    defs = build_definitions(settings)
    layout = PartitionLayout(record_types(), shards)
    with instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, dids)
        if stages == "refresh":
            request = _schedule_request(defs, instance, dids, layout)
        else:
            request = _pull_request(defs, dids, layout)
        started = time.perf_counter()
        result = execute_run_request(defs, request, instance, log_level="WARNING")
        seconds = time.perf_counter() - started
    assert result.success
    events = len(result.get_asset_materialization_events())
    return seconds, events


def _schedule_request(
    defs: Definitions, instance: DagsterInstance, dids: list[str], layout: PartitionLayout
) -> RunRequest:
    """What the refresh schedule requests (built directly for an ephemeral instance, which
    a schedule context cannot carry)."""
    if not instance.is_ephemeral:
        (request,) = schedule_run_requests(defs, "lairs_refresh", instance)
        return request
    published = published_asset().key
    keys = [k for a in defs.assets or () if isinstance(a, AssetsDefinition) for k in a.keys if k != published]
    return _rectangle(dids, layout, keys)


def _rectangle(dids: list[str], layout: PartitionLayout, keys: list[AssetKey]) -> RunRequest:
    primaries, types = layout.primaries(dids), record_types()
    first, last = (primaries[0], types[0]), (primaries[-1], types[-1])
    return layout.range_request(first, last, keys, run_key=None, job_name=None)


def _pull_request(defs: Definitions, dids: list[str], layout: PartitionLayout) -> RunRequest:
    """The pull stages only (fetched, validated, committed) over the whole rectangle."""
    pulling = {"fetched", "validated", "committed"}
    keys = [
        k
        for a in defs.assets or ()
        if isinstance(a, AssetsDefinition)
        for k in a.keys
        if k.path[-1] in pulling
    ]
    assert len(keys) == len(pulling), keys
    return _rectangle(dids, layout, keys)


def _size(pds: LocalPds, args: argparse.Namespace, per_type: int) -> None:
    corpus = seed_corpus(pds, actors=args.actors, records_per_type=per_type, prefix=f"bench{per_type}x")
    dids = [str(d) for d in corpus.dids]
    pulls: list[float] = []
    libraries: list[float] = []
    layouts: list[int | None] = [*([None] if args.actor_layout else []), *args.actor_shards]
    runs: dict[tuple[str, str, str, int | None], list[tuple[float, int]]] = {
        (stages, s, p, n): []
        for stages in args.stages
        for s in args.storage
        for p in args.planned
        for n in layouts
    }
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            pulled, library = _library(pds, dids, Path(tmp))
            pulls.append(pulled)
            libraries.append(library)
        for (stages, storage, planned, shards), timings in runs.items():
            with tempfile.TemporaryDirectory() as tmp:
                timings.append(_dagster(pds, dids, Path(tmp), storage, planned, stages, shards))
    pull_s, library_s = min(pulls), min(libraries)
    partitions = args.actors * len(record_types())
    print(
        f"\ncorpus: {args.actors} actors x {len(record_types())} collections = {partitions} partitions, "
        f"{corpus.records} records ({per_type} per type per actor, {corpus.invalid} invalid)"
    )
    print(f"  library pull:                  {pull_s:7.2f} s")
    print(f"  library pull + views + duckdb: {library_s:7.2f} s")
    for (stages, storage, planned, shards), timings in runs.items():
        run_s, events = min(timings)
        base_s, base = (pull_s, "pull") if stages == "pull" else (library_s, "pull + views + duckdb")
        parts = partitions if shards is None else shards * len(record_types())
        overhead_ms = 1000 * (run_s - base_s) / parts
        layout = "actor" if shards is None else f"{shards} shards"
        print(
            f"  dagster {stages:>7} [{storage:>8}, planned {planned:>13}, {layout:>9}]: {run_s:7.2f} s  "
            f"ratio {run_s / base_s:5.2f} vs library {base} (target <= 1.3); "
            f"{overhead_ms:5.1f} ms/partition over it ({parts} partitions); {events} materializations"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, default=20)
    parser.add_argument("--records-per-type", type=int, nargs="+", default=[4, 40])
    parser.add_argument("--repeat", type=int, default=2)
    storages = ["sqlite", *_PG_STORAGES, "memory"]
    parser.add_argument("--storage", nargs="+", choices=storages, default=["sqlite"])
    parser.add_argument(
        "--planned", nargs="+", choices=["per-partition", "subset"], default=["per-partition"]
    )
    parser.add_argument("--stages", nargs="+", choices=["pull", "refresh"], default=["pull", "refresh"])
    parser.add_argument("--actor-shards", type=int, nargs="*", default=[])
    parser.add_argument("--actor-layout", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    with ExitStack() as stack:
        if set(_PG_STORAGES) & set(args.storage):
            server = stack.enter_context(throwaway_postgres())
            os.environ[PASSWORD_ENV] = server.password
            _POSTGRES.append(server)
            if "pgbouncer" in args.storage:
                _BOUNCER.append(stack.enter_context(pgbouncer_in_front(server)))
        pds = stack.enter_context(LocalPds())
        for per_type in args.records_per_type:
            _size(pds, args, per_type)


if __name__ == "__main__":
    main()
