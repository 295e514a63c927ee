"""The lake's Iceberg tables against plain Parquet, as ratios to baselines of the same run.

One actor's records of every Layers type (``--records``, default 100,000, made by the
demo seeder: realistic shapes, references, a few invalid records) are materialized,
best of ``--repeat``:

* baseline: :func:`materialize` writing the same Parquet files with the Iceberg commit
  left out (what the lake wrote before it had tables);
* iceberg: the same, with each table's Iceberg commit (what a sync pays);
* rewrite: the next commit of the same actor (every partition replaced: one overwrite
  snapshot per table);

then a dashboard query on the ``annotations`` view of the warehouse (``iceberg_scan``
of the current snapshot) against ``read_parquet`` over the same files: on that actor's
few annotations, and on ``--layers`` synthetic annotation layers of 50 annotations each
(bench/views.py's) over 8 actors; the three queries interleaved, best of ten times ``--repeat``.

    .venv/bin/python bench/lake_iceberg.py [--records 100000] [--repeat 3] [--layers 20000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import views as views_bench  # bench/views.py: its synthetic annotation layers

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.demo.seed import actor_records
from lairs_etl.records import record_types
from lairs_etl.views import MemorySource, SourceRecord, build_warehouse, connect_warehouse, materialize
from lairs_etl.views.lakeaccess import sql_literal
from lairs_etl.views.resolved import base_name
from tests.views.lake import lake_files

DID = "did:plc:benchlakeiceberg000000"
QUERY = (
    "SELECT label, count(*) AS n, avg(confidence) AS c FROM {source} "
    "GROUP BY ALL ORDER BY n DESC, label LIMIT 20"
)


def records(count: int) -> list[SourceRecord]:
    per_type = max(1, count // len(record_types()))
    made, _ = actor_records(DID, records_per_type=per_type, invalid=max(1, count // 1000), fill=1)
    out = []
    for uri, value in made:
        block = cbor.encode_json_form(value)
        cid = cid_for_dag_cbor(block).encode()
        out.append(SourceRecord(DID, uri.collection, uri.rkey, cid, cbor.decode_json_form(block), len(block)))
    return out


def best(fn: Callable[[], object], repeat: int, before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def interleaved(con: duckdb.DuckDBPyConnection, queries: Mapping[str, str], runs: int) -> dict[str, float]:
    """Best time of each query, the queries taken in turn ``runs`` times.

    One query takes milliseconds, and on this noisy machine a block of runs of one kind
    measured the machine's mood as much as the query (the same lake gave 1.0-1.5x
    between orders).
    """
    times: dict[str, list[float]] = {kind: [] for kind in queries}
    for _ in range(runs):
        for kind, sql in queries.items():
            started = time.perf_counter()
            con.execute(sql).fetchall()
            times[kind].append(time.perf_counter() - started)
    return {kind: min(taken) for kind, taken in times.items()}


@contextmanager
def timed_commits() -> Iterator[list[float]]:
    """Within it, each ``materialize``'s Iceberg commits (``_commit_tables``) are timed into the list."""
    module = sys.modules["lairs_etl.views.materialize"]
    real_commit = module._commit_tables
    committing: list[float] = []

    def timed_commit(*args: object, **kwargs: object) -> int:
        started = time.perf_counter()
        try:
            return int(real_commit(*args, **kwargs))
        finally:
            committing.append(time.perf_counter() - started)

    with mock.patch.object(module, "_commit_tables", timed_commit):
        yield committing


def query(lake: str, db: Path, repeat: int, what: str) -> None:
    """A dashboard query on the annotations: the warehouse against ``read_parquet`` of their files.

    The Iceberg table is ``lairs_base_annotations`` in the warehouse (the target's
    comparison); ``annotations`` is the view over it that also resolves each anchor's
    covered text (joins to expressions and tokens), timed beside it.
    """
    build_warehouse(lake, str(db))
    files = [lake + p for p in lake_files(lake) if p.startswith("/annotations/")]
    listed = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    queries = {
        "direct": QUERY.format(source=f"read_parquet({listed})"),
        "table": QUERY.format(source=base_name("annotations")),
        "view": QUERY.format(source="annotations"),
    }
    with connect_warehouse(str(db)) as con:
        best_of = interleaved(con, queries, repeat * 10)
        direct, via_table, via_view = best_of["direct"], best_of["table"], best_of["view"]
        rows = con.execute("SELECT count(*) FROM annotations").fetchone()
    print(f"{what} annotations: {rows[0] if rows else 0:,} rows in {len(files)} files")
    print(f"  query, read_parquet (baseline)        {direct * 1000:7.1f} ms")
    ratio = via_table / direct
    print(f"  query, warehouse table (iceberg_scan) {via_table * 1000:7.1f} ms   {ratio:.2f}x (<= 1.2x)")
    print(f"  query, annotations view (anchors too) {via_view * 1000:7.1f} ms   {via_view / direct:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", type=int, default=20_000, help="annotation layers (x50 rows) to query")
    args = parser.parse_args()
    made = records(args.records)
    print(f"{len(made):,} records of {len(record_types())} types for one actor")
    work = Path(tempfile.mkdtemp(prefix="lairs-bench-iceberg-"))
    lake = str(work / "lake")
    module = sys.modules["lairs_etl.views.materialize"]

    def fresh() -> None:
        shutil.rmtree(lake, ignore_errors=True)

    def write(commit: str) -> None:
        summary = materialize(MemorySource(commit, made), lake)
        assert summary.ok

    try:
        with mock.patch.object(module, "_commit_tables", return_value=0):
            plain = best(lambda: write("bafyone"), args.repeat, fresh)
        with timed_commits() as committing:
            iceberg = best(lambda: write("bafyone"), args.repeat, fresh)
            first_commits = min(committing)
            committing.clear()
            counter = iter(range(10**6))
            rewrite = best(lambda: write(f"bafy{next(counter)}"), args.repeat)
            next_commits = min(committing)
        print(f"lake write, plain Parquet (baseline)   {plain:7.2f} s")
        print(f"lake write, Iceberg tables             {iceberg:7.2f} s   {iceberg / plain:.2f}x (<= 1.3x)")
        print(f"next commit, every partition replaced  {rewrite:7.2f} s   {rewrite / plain:.2f}x")
        print(f"  of which Iceberg commits: first write {first_commits:.2f} s, next {next_commits:.2f} s")
        query(lake, work / "w.duckdb", args.repeat, "the actor's")
        big = str(work / "annotations-lake")
        materialize(views_bench.source(views_bench.layers(args.layers, 50)), big)
        query(big, work / "big.duckdb", args.repeat, f"{args.layers:,} layers'")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
