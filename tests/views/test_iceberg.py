"""The lake as Iceberg tables: a second engine reads them, snapshots carry the commit, time travel."""

from __future__ import annotations

import datetime as dt
import gc
import secrets
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lairs_etl.errors import ViewsError
from lairs_etl.views import MemorySource, TableEntry, build_warehouse, materialize, read_manifest, run_query
from lairs_etl.views.duck import connect, load_extension
from lairs_etl.views.iceberg import COMMIT_PROPERTY, LakeCatalog
from lairs_etl.views.lakeaccess import attach_lake, sql_literal
from lairs_etl.views.layout import TableKey, table_name
from lairs_etl.views.maintenance import expire_lake, tag_lake
from tests.views import demo
from tests.views.lake import canonical_rows as _canonical
from tests.views.lake import lake_files


def _duck(lake: str, sql: str) -> pa.Table:
    with connect() as con:
        attach_lake(con, lake)
        load_extension(con, "iceberg")
        return con.execute(sql).fetch_arrow_table()


@pytest.fixture(params=["local", "memory"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://iceberg-{secrets.token_hex(6)}/lake"
    return str(tmp_path / "lake")


def test_duckdb_reads_every_table_with_the_rows_pyiceberg_plans(lake: str) -> None:
    summary = materialize(MemorySource("bafyone", demo.source_records()), lake)
    catalog = LakeCatalog(lake)
    groups: dict[str, list[TableEntry]] = {}
    for entry in summary.manifest.tables:
        groups.setdefault(table_name(entry.key, entry.version), []).append(entry)
    assert len([n for n in groups if n == "invalid"]) == 1  # every collection's invalid records: one table
    checked = 0
    for name, entries in groups.items():
        rows = sum(e.rows for e in entries)
        table = catalog.load(entries[0].key, entries[0].version)
        if not rows:
            assert table is None, name  # never had a file: no table to read
            continue
        assert table is not None
        files = [task.file.file_path for task in table.scan().plan_files()]
        assert len(files) == sum(len(e.partitions) for e in entries)  # one current file per partition
        from_files = pa.concat_tables(
            [pq.read_table(table.io.new_input(f).open()).replace_schema_metadata(None) for f in files]
        )
        duck = _duck(lake, f"SELECT * FROM iceberg_scan({sql_literal(table.metadata_location)})")
        assert duck.num_rows == rows == from_files.num_rows
        assert _canonical(duck.to_pylist()) == _canonical(from_files.to_pylist()), name
        # pyiceberg's own reader agrees, except that it reads a null list as an empty one
        ours = table.scan().to_arrow()
        assert _canonical(ours.to_pylist(), empty_lists_as_null=True) == _canonical(
            duck.to_pylist(), empty_lists_as_null=True
        ), name
        checked += 1
    assert checked >= 8


def test_null_filters_through_duckdb_keep_the_rows_that_match(lake: str) -> None:
    # DuckDB 1.4's iceberg_scan skipped every file on IS [NOT] NULL when a file had no
    # null counts (duckdb-iceberg#782): `WHERE label IS NOT NULL` gave no rows at all.
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    catalog = LakeCatalog(lake)
    summary = read_manifest(lake)
    assert summary is not None
    checked = mixed = 0
    with connect() as con:
        attach_lake(con, lake)
        load_extension(con, "iceberg")
        for entry in summary.tables:
            table = catalog.load(entry.key, entry.version)
            if table is None:
                continue
            files = [task.file.file_path for task in table.scan().plan_files()]
            # The files as written (pyiceberg's reader turns null lists into empty ones).
            rows = pa.concat_tables([pq.read_table(table.io.new_input(f).open()) for f in files])
            source = f"iceberg_scan({sql_literal(table.metadata_location)})"
            for column in _by_null_pattern(rows):
                nulls = rows.column(column).null_count
                for test, expected in (("IS NULL", nulls), ("IS NOT NULL", rows.num_rows - nulls)):
                    counted = con.execute(f'SELECT count(*) FROM {source} WHERE "{column}" {test}').fetchone()
                    assert counted == (expected,), (table_name(entry.key, entry.version), column, test)
                    checked += 1
                    mixed += 0 < nulls < rows.num_rows
    assert checked >= 50
    assert mixed >= 10  # columns holding both nulls and values, where a skipped file shows


def _by_null_pattern(rows: pa.Table, each: int = 3) -> list[str]:
    """Up to ``each`` columns with nulls and values mixed, none null, all null (lists too)."""
    picked: dict[str, list[str]] = {"mixed": [], "none": [], "all": []}
    for name in rows.column_names:
        nulls = rows.column(name).null_count
        kind = "none" if nulls == 0 else "all" if nulls == rows.num_rows else "mixed"
        if len(picked[kind]) < each:
            picked[kind].append(name)
    return [name for names in picked.values() for name in names]


def test_each_snapshot_carries_its_commit_and_reads_back_as_it_was(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    changed = [r for r in demo.source_records() if not (r.did == demo.BOB and r.rkey == "3kbob0000000a")]
    second = materialize(MemorySource("bafytwo", changed), lake)
    table = LakeCatalog(lake).load(TableKey("records", demo.EXPR), 1)
    assert table is not None
    snapshots = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    commits = [s.summary.additional_properties[COMMIT_PROPERTY] for s in snapshots if s.summary]
    assert commits == ["bafyone", "bafytwo"]
    assert second.files_removed > 0
    location = sql_literal(table.metadata_location)
    first_id = snapshots[0].snapshot_id
    then = _duck(
        lake,
        f"SELECT commit, count(*) AS n FROM iceberg_scan({location}, snapshot_from_id={first_id}) "
        "GROUP BY ALL",
    )
    now = _duck(lake, f"SELECT commit, count(*) AS n FROM iceberg_scan({location}) GROUP BY ALL")
    assert then.to_pylist() == [{"commit": "bafyone", "n": 5}]
    assert now.to_pylist() == [{"commit": "bafytwo", "n": 4}]


def test_rewriting_one_actor_replaces_only_its_files_in_one_snapshot(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    table = LakeCatalog(lake).load(TableKey("records", demo.EXPR), 1)
    assert table is not None
    before = {task.file.file_path: task.file.partition[0] for task in table.scan().plan_files()}
    materialize(MemorySource("bafytwo", demo.source_records()), lake, dids=[demo.BOB])
    table.refresh()
    after = {task.file.file_path: task.file.partition[0] for task in table.scan().plan_files()}
    alice_before = {p for p, did in before.items() if did == demo.ALICE}
    assert alice_before == {p for p, did in after.items() if did == demo.ALICE}
    assert {p for p, did in before.items() if did == demo.BOB}.isdisjoint(after)
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert snapshot.summary is not None
    assert snapshot.summary.operation.value == "overwrite"
    assert snapshot.summary.additional_properties["deleted-data-files"] == "1"
    assert snapshot.summary.additional_properties["added-data-files"] == "1"


_WRITER = """
import sys
from lairs_etl.errors import ViewsError
from lairs_etl.views import MemorySource, materialize
from tests.views import demo
summary = materialize(MemorySource("bafyone", demo.source_records()), sys.argv[1], dids=[sys.argv[2]])
assert summary.ok, summary.failed
"""


def test_two_processes_writing_different_actors_both_land(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    root = str(Path(__file__).resolve().parents[2])
    runs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, lake, did], cwd=root)
        for did in (demo.ALICE, demo.BOB)
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    manifest = read_manifest(lake)
    assert manifest is not None
    catalog = LakeCatalog(lake)
    for entry in manifest.tables:
        if not entry.rows:
            continue
        table = catalog.load(entry.key, entry.version)
        assert table is not None
        marker = f"collection={entry.key.collection}/"
        mine = [t.file for t in table.scan().plan_files() if marker in t.file.file_path]
        assert {f.partition[0] for f in mine} == set(entry.partitions), entry.key.name
        assert sum(f.record_count for f in mine) == entry.rows


def test_the_warehouse_reads_a_memory_lake_through_iceberg(tmp_path: Path) -> None:
    lake = f"memory://iceberg-{secrets.token_hex(6)}/lake"
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    rows = run_query(db, "SELECT count(*) AS n FROM tokens").to_pylist()
    assert rows == [{"n": 5}]


def _commits(db: str, at: str | None = None) -> list[str]:
    rows = run_query(db, "SELECT DISTINCT commit FROM expressions ORDER BY 1", at=at).to_pylist()
    return [r["commit"] for r in rows]


def test_reading_at_a_tag_gives_the_rows_of_the_tagged_sync(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    records = demo.source_records()
    materialize(MemorySource("bafyone", records), lake)
    tagged = tag_lake(lake, "release-1", commit="bafyone")
    assert len(tagged) >= 8
    with pytest.raises(ViewsError, match="not commit"):
        tag_lake(lake, "release-x", commit="bafyother")  # the lake is not that commit's
    materialize(MemorySource("bafytwo", records[:-2]), lake)
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    assert _commits(db) == ["bafytwo"]
    assert _commits(db, at="release-1") == ["bafyone"]
    assert run_query(db, "SELECT count(*) AS n FROM expressions", at="release-1").to_pylist() == [{"n": 5}]
    tags = LakeCatalog(lake).tags()
    assert set(tags) == {"release-1"}
    with pytest.raises(ViewsError, match="no tag"):
        run_query(db, "SELECT 1", at="release-9")
    # a warehouse built at the tag reads the same
    at_db = str(tmp_path / "at.duckdb")
    build_warehouse(lake, at_db, at="release-1")
    assert _commits(at_db) == ["bafyone"]


def test_expire_keeps_what_current_and_tagged_snapshots_read_and_removes_the_rest(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    records = demo.source_records()
    materialize(MemorySource("bafyone", records), lake)
    tag_lake(lake, "release-1")
    tagged_files = set(lake_files(lake))
    materialize(MemorySource("bafytwo", records), lake)
    middle_files = set(lake_files(lake))
    materialize(MemorySource("bafythree", records), lake)
    current_files = set(lake_files(lake))
    table_dir = Path(lake, "records", "v1", f"collection={demo.EXPR}")
    stray = table_dir / "actor=did%3Aplc%3Axyz" / "part-dead.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"PAR1 from a run killed before its commit")
    before = {p for p in Path(lake).rglob("*") if p.is_file()}

    summary = expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))

    after = {p for p in Path(lake).rglob("*") if p.is_file()}
    assert summary.files_removed == len(before - after) > 0
    assert summary.snapshots_expired > 0
    assert not stray.exists()
    on_disk = {"/" + str(p.relative_to(lake)) for p in after}
    assert (tagged_files | current_files) <= on_disk
    gone = {p for p in middle_files - tagged_files - current_files if p.endswith(".parquet")}
    assert gone
    assert not gone & on_disk
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    assert _commits(db) == ["bafythree"]
    assert _commits(db, at="release-1") == ["bafyone"]
    # nothing older than a cutoff in the past: nothing removed
    again = expire_lake(lake, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert (again.snapshots_expired, again.files_removed) == (0, 0)


def test_a_copied_lake_is_its_own_and_never_writes_to_the_original(tmp_path: Path) -> None:
    original, copy = tmp_path / "lake", tmp_path / "copy"
    materialize(MemorySource("bafyone", demo.source_records()), str(original))
    before = {p: p.stat().st_mtime_ns for p in original.rglob("*") if p.is_file()}
    shutil.copytree(original, copy)

    summary = materialize(MemorySource("bafytwo", demo.source_records()), str(copy))

    assert summary.ok
    assert {p: p.stat().st_mtime_ns for p in original.rglob("*") if p.is_file()} == before
    catalog = LakeCatalog(str(copy))
    tables = catalog.all_tables()
    assert tables
    assert all(t.location().startswith(f"file://{copy}/") for t in tables)
    db = str(tmp_path / "w.duckdb")
    build_warehouse(str(copy), db)
    assert _commits(db) == ["bafytwo"]
    expire_lake(str(copy), dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert {p: p.stat().st_mtime_ns for p in original.rglob("*") if p.is_file()} == before
    # the copy replaced by a fresh copy at the same path, in the same process
    shutil.rmtree(copy)
    shutil.copytree(original, copy)
    again = materialize(MemorySource("bafythree", demo.source_records()), str(copy))
    assert again.ok
    build_warehouse(str(copy), db)
    assert _commits(db) == ["bafythree"]


class _Staged:
    """Stands for what a sync holds while it opens the lake's catalog (its staged records)."""


def _open_new_catalog(lake: Path, staged: _Staged) -> None:
    LakeCatalog(str(lake))  # staged: a local of this frame, as a sync's records are of its


def test_opening_a_new_catalog_keeps_nothing_of_the_callers_alive(tmp_path: Path) -> None:
    # A sync runs with the collector paused, so a garbage cycle that reaches the caller's
    # frames keeps their locals (a first sync's staged records) until the process ends.
    staged = _Staged()
    alive = weakref.ref(staged)
    collecting = gc.isenabled()
    gc.disable()
    try:
        _open_new_catalog(tmp_path / "lake", staged)
        del staged
        assert alive() is None
    finally:
        if collecting:
            gc.enable()
