"""``lairs-etl sync`` against the network's floor: throughput, memory, incremental cost.

Seeds two Layers-only actors on the local reference PDS: a big one (``--records``,
default 100,000) and a small one (a fifth of it), every record type in turn, each
record its own variant of the type's example filled one level deep (~500 bytes of
DAG-CBOR: the big actor's CAR is ~50 MB). Seeding 100,000 records through
``applyWrites`` takes two to three minutes. Then, each as a whole process (what a user
waits for), best of ``--repeat``, interleaved:

* **floor**: download ``getRepo`` to a temporary file and decode every block with
  libipld, no checks at all;
* **listRecords**: page ``listRecords`` (limit 100) through every collection
  ``describeRepo`` lists, sequentially, no checks;
* **fetch car**: ``lairs-etl fetch DID --mode car`` printing JSON Lines to /dev/null;
* **sync**: ``lairs-etl sync DID --repo R --lake L`` into an empty repository and lake.

Peak RSS is each process's own ``VmHWM``. Then the incremental case: the small actor
synced, 1 % of its records changed on the PDS (half updated, a quarter created, a
quarter deleted), and ``sync`` run again from that repository and lake, restored in
place before each run: incremental (``--mode car`` and ``--mode tree``) against
``--full``, as whole processes (beside a process that only imports what a sync imports,
the bound on any whole-process ratio) and through the library in this process (the
work without the start-up).
``--dagster`` adds the big actor's refresh through Dagster (all four stages,
in-process, Dagster's SQLite storage) against the library ``sync`` in the same process.

    .venv/bin/python bench/sync.py [--records 100000] [--repeat 2] [--dagster] [--skip-big]

Seeding dominates a run; to measure again and again (profiling), seed once and keep
the PDS up with ``--serve FILE`` (writes the URLs and accounts to FILE and waits), then
run ``--attach FILE`` from another shell.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from lairs_etl.atproto.syntax import Did, Handle
from lairs_etl.demo.seed import actor_records, seed_actor
from lairs_etl.localpds import Account, LocalPds

FILL = 1
"""``minimal_record`` fill: ~500 bytes of DAG-CBOR per record, the issue's realistic actor."""

_MIB = 1024 * 1024

_PEAK = """
import atexit, os, sys
def report():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:")).split()[1]
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(report)
"""
"""Prepended to each measured program: it writes its own peak RSS (KiB) on exit. A
child's ``ru_maxrss`` would start from this (large) parent's RSS."""

_FLOOR = """
import sys, tempfile, httpx, libipld
did, pds = sys.argv[1:3]
headers = {"accept-encoding": "identity"}  # as lairs-etl asks: the same bytes on the wire
with tempfile.TemporaryFile() as spool:
    with httpx.stream(
        "GET", pds + "/xrpc/com.atproto.sync.getRepo", params={"did": did}, timeout=600, headers=headers
    ) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes(1 << 20):
            spool.write(chunk)
    spool.seek(0)
    _header, blocks = libipld.decode_car(spool.read())
print(len(blocks))
"""

_LIST_RECORDS = """
import sys, httpx
did, pds = sys.argv[1:3]
with httpx.Client(base_url=pds + "/xrpc/", timeout=600) as client:
    described = client.get("com.atproto.repo.describeRepo", params={"repo": did}).json()
    count = 0
    for collection in described["collections"]:
        cursor = None
        while True:
            params = {"repo": did, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = client.get("com.atproto.repo.listRecords", params=params).json()
            count += len(page["records"])
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                break
print(count)
"""

_CLI = """
from lairs_etl.cli import run
sys.argv[0] = "lairs-etl"
run()
"""


@dataclass(frozen=True)
class Run:
    """One measured process."""

    seconds: float
    peak: int
    stdout: str


def _run(program: str, args: Sequence[str], *, stdout_to_null: bool = False) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env = {**os.environ, "BENCH_PEAK_FILE": str(peak_file)}
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", "import sys\n" + _PEAK + program, *args],
            stdout=subprocess.DEVNULL if stdout_to_null else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{args[:2]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return Run(seconds, int(peak_file.read_text()) * 1024, proc.stdout or "")


@dataclass(frozen=True)
class Pds:
    """The PDS and PLC a run talks to (started here, or by ``--serve``)."""

    pds_url: str
    plc_url: str


def _network(pds: Pds) -> list[str]:
    return ["--plc-url", pds.plc_url, "--handle-service", pds.pds_url, "--allow-private-hosts"]


def _sync(pds: Pds, did: str, repo: Path, lake: Path, *extra: str) -> tuple[Run, dict[str, object]]:
    run = _run(_CLI, ["sync", str(did), "--repo", str(repo), "--lake", str(lake), *_network(pds), *extra])
    report = json.loads(run.stdout)
    (actor,) = report["actors"]
    if actor["status"] == "failed":
        raise SystemExit(f"sync failed: {actor}")
    return run, actor


def _seed(pds: LocalPds, name: str, records: int, clock_id: int) -> Account:
    account = pds.create_account(f"{name}.test")
    from lairs_etl.records import record_types

    per_type = -(-records // len(record_types()))
    planned, broken = actor_records(account.did, records_per_type=per_type, fill=FILL, clock_id=clock_id)
    started = time.perf_counter()
    seed_actor(account, planned[:records], broken)
    print(f"seeded {name}: {records} records in {time.perf_counter() - started:.0f} s", flush=True)
    return account


def _best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def _rate(records: int, run: Run) -> str:
    return f"{run.seconds:6.2f} s  {records / run.seconds:8.0f} records/s  peak {run.peak / _MIB:5.0f} MiB"


def _throughput(pds: Pds, account: Account, records: int, repeat: int) -> dict[str, Run]:
    did = account.did
    runs: dict[str, list[Run]] = {"floor": [], "listRecords": [], "fetch car": [], "sync": []}
    for _ in range(repeat):
        runs["floor"].append(_run(_FLOOR, [str(did), pds.pds_url]))
        runs["listRecords"].append(_run(_LIST_RECORDS, [str(did), pds.pds_url]))
        runs["fetch car"].append(
            _run(_CLI, ["fetch", str(did), "--mode", "car", *_network(pds)], stdout_to_null=True)
        )
        with tempfile.TemporaryDirectory() as tmp:
            run, _ = _sync(pds, did, Path(tmp) / "repo", Path(tmp) / "lake")
            runs["sync"].append(run)
    best = {name: _best(timings) for name, timings in runs.items()}
    floor = best["floor"]
    print(f"\n{records} records, whole processes, best of {repeat}:")
    for name, run in best.items():
        print(f"  {name:<12} {_rate(records, run)}  {floor.seconds / run.seconds:5.2f}x the floor's rate")
    lister = best["listRecords"]
    print(
        f"  targets: sync >= 0.5x floor ({floor.seconds / best['sync'].seconds:.2f}x); "
        f"fetch car >= 0.7x floor ({floor.seconds / best['fetch car'].seconds:.2f}x) and "
        f">= 1.8x listRecords ({lister.seconds / best['fetch car'].seconds:.2f}x)"
    )
    return best


_UPDATE = "com.atproto.repo.applyWrites#update"
_CREATE = "com.atproto.repo.applyWrites#create"
_DELETE = "com.atproto.repo.applyWrites#delete"


def _change_one_percent(account: Account, records: int) -> int:
    """Update, create and delete 1 % of the actor's records on its PDS; how many."""
    from lairs_etl.records import record_types

    types = sorted(record_types())
    existing: list[tuple[str, str, dict[str, object]]] = []
    for collection in types:
        existing.extend(
            (collection, r["uri"].rsplit("/", 1)[1], r["value"]) for r in account.list_records(collection)
        )
    change = max(4, records // 100)
    step = max(1, len(existing) // change)
    picked = existing[::step][:change]
    updates, deletes = picked[: change // 2], picked[change // 2 : change // 2 + change // 4]
    creates = picked[change // 2 + change // 4 :]
    writes: list[dict[str, object]] = [
        {
            "$type": _UPDATE,
            "collection": c,
            "rkey": k,
            "value": {**v, "createdAt": "2026-12-01T00:00:00.000Z"},
        }
        for c, k, v in updates
    ]
    writes += [{"$type": _DELETE, "collection": c, "rkey": k} for c, k, _ in deletes]
    writes += [{"$type": _CREATE, "collection": c, "value": v} for c, _, v in creates]
    account.apply_writes(writes)
    return len(writes)


def _restore(root: Path) -> tuple[Path, Path]:
    """The base repository and lake, restored in place (where they were synced).

    In place, not copied elsewhere: Iceberg records absolute paths, so a lake copied to
    another directory is a moved lake, whose catalog the next sync re-registers table by
    table. That recovery is not what a user's incremental sync pays.
    """
    repo, lake = root / "repo", root / "lake"
    for live in (repo, lake):
        shutil.rmtree(live, ignore_errors=True)
        shutil.copytree(live.with_name(live.name + ".base"), live)
    return repo, lake


def _incremental(pds: Pds, account: Account, records: int, repeat: int, root: Path) -> Run:
    full_first, _ = _sync(pds, account.did, root / "repo", root / "lake")
    for live in (root / "repo", root / "lake"):
        shutil.copytree(live, live.with_name(live.name + ".base"))
    changed = _change_one_percent(account, records)
    results: dict[str, list[tuple[Run, dict[str, object]]]] = {"full": [], "car": [], "tree": []}
    for _ in range(repeat):
        for kind, extra in (("full", ["--full"]), ("car", ["--mode", "car"]), ("tree", ["--mode", "tree"])):
            repo, lake = _restore(root)
            results[kind].append(_sync(pds, account.did, repo, lake, *extra))
    full, full_actor = min(results["full"], key=lambda r: r[0].seconds)
    full_bytes = int(full_actor["bytes_fetched"])  # type: ignore[call-overload]
    print(f"\nincremental: {changed} of {records} records changed; sync again, best of {repeat}:")
    print(f"  full         {full.seconds:6.2f} s  {full_bytes / _MIB:7.2f} MiB fetched")
    for kind in ("car", "tree"):
        run, actor = min(results[kind], key=lambda r: r[0].seconds)
        fetched = int(actor["bytes_fetched"])  # type: ignore[call-overload]
        print(
            f"  {kind:<4} since  {run.seconds:6.2f} s  {fetched / _MIB:7.2f} MiB fetched  "
            f"{full.seconds / run.seconds:5.1f}x faster (target >= 10), "
            f"{100 * fetched / full_bytes:5.2f} % of the bytes (target <= 5); "
            f"incremental={actor['incremental']}, mode={actor['mode']}"
        )
    _start_up(full)
    _in_process(pds, str(account.did), repeat, root)
    return full_first


_START_UP = """
import lairs_etl.sync, lairs_etl.views, lairs_etl.views.iceberg
from lairs_etl.cli import sync as _command
from lairs_etl.records import record_types
record_types()
"""


def _start_up(full: Run) -> None:
    """What any ``sync`` process pays before its first byte: the imports.

    An incremental sync can be no faster, as a whole process, than this; against the
    full sync it bounds the whole-process ratio.
    """
    best = _best([_run(_START_UP, []) for _ in range(3)])
    print(
        f"  start-up (imports only) {best.seconds:6.2f} s: a whole process can be at most "
        f"{full.seconds / best.seconds:4.1f}x faster than the full sync"
    )


def _in_process(pds: Pds, did: str, repeat: int, root: Path) -> None:
    """The same syncs through the library in this process: the work, without start-up.

    A whole process spends seconds importing the engine (pydantic models, pyarrow,
    pyiceberg), which an incremental sync of a few hundred records cannot hide. Best of
    ``repeat + 1``: the first sync of each kind warms this process (imports, caches).
    """
    from lairs_etl.atproto.identity import IdentityResolver
    from lairs_etl.atproto.xrpc import XrpcClient
    from lairs_etl.repo.repository import Repository
    from lairs_etl.sync import LakeTarget, SyncOptions, Target, sync

    def once(kind: str) -> float:
        repo, lake = _restore(root)
        options = SyncOptions(incremental=kind != "full", fetch_mode="tree" if kind == "tree" else "car")
        with XrpcClient(allow_private_hosts=True) as client:
            resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
            started = time.perf_counter()
            report = sync(
                [Target(did)],
                client=client,
                resolver=resolver,
                repository=Repository.open(str(repo)),
                lake=LakeTarget(str(lake)),
                options=options,
            )
            seconds = time.perf_counter() - started
        if not report.ok or report.actors[0].incremental != (kind != "full"):
            raise SystemExit(f"in-process {kind} sync went wrong: {report.to_json()}")
        return seconds

    best = {kind: min(once(kind) for _ in range(repeat + 1)) for kind in ("full", "car", "tree")}
    print("  in process (library sync, no start-up):")
    print(f"  full         {best['full']:6.2f} s")
    for kind in ("car", "tree"):
        print(
            f"  {kind:<4} since  {best[kind]:6.2f} s  {best['full'] / best[kind]:5.1f}x faster (target >= 10)"
        )


def _dagster(pds: Pds, did: str, repeat: int) -> None:
    import logging

    sys.path.insert(0, str(Path(__file__).parent))
    from dagster_refresh import _dagster as dagster_run  # the same run as bench/dagster_refresh.py
    from dagster_refresh import _library

    logging.getLogger("dagster").setLevel(logging.WARNING)
    library, dagster = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            library.append(_library(pds, [did], Path(tmp))[1])
        with tempfile.TemporaryDirectory() as tmp:
            # shards=None: the actor x collection layout, one partition per collection
            dagster.append(dagster_run(pds, [did], Path(tmp), "sqlite", "per-partition", "refresh", None)[0])
    lib_s, dag_s = min(library), min(dagster)
    print(
        f"\nDagster refresh of the big actor (26 partitions, in-process): {dag_s:.2f} s vs library sync + "
        f"warehouse {lib_s:.2f} s: {dag_s / lib_s:.2f}x (target <= 1.3)"
    )


def _login(pds_url: str, handle: str, password: str) -> Account:
    client = httpx.Client(base_url=pds_url, timeout=120.0)
    answer = client.post(
        "/xrpc/com.atproto.server.createSession", json={"identifier": handle, "password": password}
    ).json()
    return Account(
        Did(answer["did"]),
        Handle(answer["handle"]),
        password,
        answer["accessJwt"],
        answer["refreshJwt"],
        client,
    )


@contextmanager
def _corpus(args: argparse.Namespace) -> Iterator[tuple[Pds, Account, Account | None]]:
    """The PDS and the small and big accounts: attached to a served one, or seeded here."""
    if args.attach:
        info = json.loads(Path(args.attach).read_text())
        small = _login(info["pds_url"], *info["small"])
        big = None if args.skip_big else _login(info["pds_url"], *info["big"])
        args.records = info["records"]
        yield Pds(info["pds_url"], info["plc_url"]), small, big
        return
    with LocalPds() as pds:
        small = _seed(pds, "small", args.records // 5, clock_id=1)
        big = None if args.skip_big else _seed(pds, "big", args.records, clock_id=2)
        if args.serve:
            info = {
                "pds_url": pds.pds_url,
                "plc_url": pds.plc_url,
                "records": args.records,
                "small": [str(small.handle), small.password],
                "big": None if big is None else [str(big.handle), big.password],
            }
            Path(args.serve).write_text(json.dumps(info))
            print(f"serving; run: .venv/bin/python bench/sync.py --attach {args.serve}", flush=True)
            while True:
                time.sleep(3600)
        yield Pds(pds.pds_url, pds.plc_url), small, big


def _say_bytecode() -> None:
    """Whether the processes timed here import byte-compiled modules (see ``scripts/test``).

    With ``PYTHONDONTWRITEBYTECODE`` set and no ``.pyc`` on disk, every process compiles
    pyiceberg, SQLAlchemy and the engine from source (imports 2.5x slower): whole-process
    ratios are then not comparable with an installed lairs-etl's.
    """
    import importlib.util

    import pyiceberg.catalog.sql

    import lairs_etl.sync.engine

    missing = [
        m.__name__
        for m in (pyiceberg.catalog.sql, lairs_etl.sync.engine)
        if m.__file__ is None or not Path(importlib.util.cache_from_source(m.__file__)).exists()
    ]
    state = "byte-compiled" if not missing else f"compiled from source on every start ({', '.join(missing)})"
    print(f"imports: {state}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dagster", action="store_true")
    parser.add_argument(
        "--skip-big", action="store_true", help="Only the small actor (memory and incremental)."
    )
    parser.add_argument(
        "--serve", metavar="FILE", help="Seed, write the PDS's details to FILE, keep serving."
    )
    parser.add_argument("--attach", metavar="FILE", help="Use the PDS a --serve run described in FILE.")
    args = parser.parse_args()
    _say_bytecode()
    with _corpus(args) as (pds, small, big), tempfile.TemporaryDirectory() as tmp:
        small_n = args.records // 5
        big_run = _throughput(pds, big, args.records, args.repeat)["sync"] if big is not None else None
        small_run = _incremental(pds, small, small_n, args.repeat, Path(tmp))
        print(f"\nmemory: sync of {small_n} records peak {small_run.peak / _MIB:.0f} MiB", end="")
        if big_run is not None:
            extra = (big_run.peak - small_run.peak) / _MIB
            print(
                f"; of {args.records}: {big_run.peak / _MIB:.0f} MiB (+{extra:.0f} MiB, target <= +100)",
                end="",
            )
        print()
        if args.dagster and big is not None:
            _dagster(pds, str(big.did), args.repeat)


if __name__ == "__main__":
    main()
