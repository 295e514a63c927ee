"""What a lake's kept snapshots cost its readers and writers, and what maintenance wins back.

A scheduled refresh adds a snapshot to every table it changes; each one kept makes the
table's metadata file bigger, and DuckDB's ``iceberg_scan`` reads that file on every
query, pyiceberg on every commit. This materializes one actor (``--records``, default
2,600, the demo seeder's realistic shapes) ``--snapshots`` times (default 100) from a
new corpus commit with one annotation layer changed: each round rewrites the actor's
partitions (their files carry the commit), so every table gains a snapshot a round, as
in a lake refreshed that often. Every ``--every`` rounds it prints, against the lake's
first state in the same run:

* the ``annotations`` table's metadata file size;
* a dashboard query of that table through the warehouse (``iceberg_scan``), interleaved
  with ``read_parquet`` over the same files, best of 20 each;
* the round's Iceberg commits (``_commit_tables``, about 30 tables: what every sync pays).

Then it runs the maintenance as the Dagster maintenance job does once the retention has
passed (``expire_lake`` at a cutoff after every round, then ``compact_lake``) and
prints the same again after one more round.

    .venv/bin/python bench/lake_history.py [--records 2600] [--snapshots 100] [--every 25]
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lake_iceberg  # bench/lake_iceberg.py: the actor's records

from lairs_etl.views import MemorySource, SourceRecord, build_warehouse, connect_warehouse, materialize
from lairs_etl.views.lakeaccess import sql_literal
from lairs_etl.views.maintenance import compact_lake, expire_lake
from lairs_etl.views.resolved import base_name
from tests.views.lake import lake_files

QUERY = "SELECT label, count(*) AS n FROM {source} GROUP BY ALL ORDER BY n DESC, label LIMIT 20"
LAYER = "pub.layers.annotation.annotationLayer"


def variant(records: list[SourceRecord], changed: SourceRecord, round_: int) -> list[SourceRecord]:
    """The actor with ``changed`` given a new ``createdAt`` (a new file for its partitions)."""
    value = dict(changed.value)  # type: ignore[arg-type]
    value["createdAt"] = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=round_)).isoformat()
    new = SourceRecord(changed.did, changed.collection, changed.rkey, changed.cid, value, changed.size)
    return [new if r is changed else r for r in records]


def metadata_bytes(lake: str) -> int:
    found = glob.glob(f"{lake}/annotations/v1/*/metadata/*.metadata.json")
    return os.path.getsize(max(found, key=os.path.getmtime))


def query_ms(lake: str, db: Path) -> tuple[float, float]:
    """Best of 20, interleaved: the warehouse's table and ``read_parquet`` of its current files."""
    build_warehouse(lake, str(db))
    files = [lake + p for p in lake_files(lake) if p.startswith("/annotations/")]
    sources = {
        "table": QUERY.format(source=base_name("annotations")),
        "direct": QUERY.format(source="read_parquet([" + ", ".join(sql_literal(f) for f in files) + "])"),
    }
    with connect_warehouse(str(db)) as con:
        best_of = lake_iceberg.interleaved(con, sources, 20)
    return best_of["table"] * 1000, best_of["direct"] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_600)
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args()
    records = lake_iceberg.records(args.records)
    changed = next(r for r in records if r.collection == LAYER)
    work = Path(tempfile.mkdtemp(prefix="lairs-bench-history-"))
    lake, db = str(work / "lake"), work / "w.duckdb"

    def line(label: str, first: tuple[int, float, float, float] | None) -> tuple[int, float, float, float]:
        table, direct = query_ms(lake, db)
        now = (metadata_bytes(lake), table, direct, committing[-1] if committing else 0.0)
        base = first or now
        print(
            f"{label:<28} metadata {now[0] / 1024:7.1f} KiB ({now[0] / base[0]:4.1f}x)   "
            f"query {now[1]:6.2f} ms = {now[1] / now[2]:4.2f}x read_parquet "
            f"({now[1] / base[1]:4.2f}x first)   "
            f"commits {now[3] * 1000:6.0f} ms ({now[3] / base[3] if base[3] else 1:4.2f}x first)",
            flush=True,
        )
        return now

    print(f"{len(records):,} records of one actor; {args.snapshots} rounds changing one annotation layer")
    try:
        with lake_iceberg.timed_commits() as committing:
            materialize(MemorySource("bafy0", variant(records, changed, 0)), lake)
            # A rewrite, as every later round: its commits are the baseline.
            materialize(MemorySource("bafy1", variant(records, changed, 1)), lake)
            first = line("after 2 snapshots", None)
            for round_ in range(2, args.snapshots + 1):
                materialize(MemorySource(f"bafy{round_}", variant(records, changed, round_)), lake)
                if round_ % args.every == 0:
                    line(f"after {round_} snapshots", first)
            started = time.perf_counter()  # expiry first, as the Dagster maintenance job
            expired = expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
            compacted = compact_lake(lake)
            took = time.perf_counter() - started
            print(
                f"maintenance: {took:.2f} s; {compacted.tables_compacted} tables compacted, "
                f"{expired.snapshots_expired} snapshots expired, {expired.files_removed} files removed"
            )
            materialize(MemorySource("bafyafter", variant(records, changed, args.snapshots + 1)), lake)
            line("after maintenance, 1 more", first)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
