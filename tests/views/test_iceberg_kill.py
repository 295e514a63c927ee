"""A writer killed (SIGKILL) in the middle of its Iceberg commits: readable tables, expire cleans up.

The issue's acceptance criterion: ``kill -9`` mid-write leaves the previous snapshot
readable and ``lake expire`` removes the orphans. A child process materializes a second
commit over a lake that holds a first one and kills itself at a chosen point of the
commit phase: before a table's commit, after a table's new metadata file is written but
before the catalog points at it, or inside the catalog's SQL transaction. Then every
table reads one of the two commits whole, the manifest (written after the commits)
still names the first, ``expire_lake`` deletes what the child wrote and no snapshot
registered (and nothing a snapshot needs), and a re-run brings the lake to the second commit.
The writer's marker (``_lairs_writes/``) outlives it, so the next write repairs the lake
whatever the manifest says: it commits every table, tags wait for it, and expiry meanwhile
costs nothing (the files it removed are written again).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import Table

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.errors import ViewsError
from lairs_etl.views import (
    MemorySource,
    SourceRecord,
    build_warehouse,
    connect_warehouse,
    materialize,
    read_manifest,
)
from lairs_etl.views.duck import connect, load_extension
from lairs_etl.views.iceberg import COMMIT_PROPERTY, LakeCatalog
from lairs_etl.views.journal import WRITES_DIR
from lairs_etl.views.lakeaccess import attach_lake, sql_literal
from lairs_etl.views.maintenance import expire_lake, tag_lake
from lairs_etl.views.resolved import base_name
from tests.views import demo
from tests.views.lake import canonical_rows as _canonical
from tests.views.lake import lake_files

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = "bafyone", "bafytwo"
CORPUS = "pub.layers.corpus.corpus"


def _record(did: str, collection: str, rkey: str, value: dict[str, Any]) -> SourceRecord:
    block = cbor.encode_json_form(value)
    return SourceRecord(did, collection, rkey, cid_for_dag_cbor(block).encode(), value, len(block))


def second_records(*, new_collection: bool = False) -> list[SourceRecord]:
    """The second commit's corpus: Bob's quoted sentence deleted, Alice's document edited.

    ``new_collection``: Alice also publishes a corpus record, a collection (so a table)
    the first commit did not have.
    """
    out = []
    for did, collection, rkey, value in demo.records():
        if (did, rkey) == (demo.BOB, "3kbob0000000a"):
            continue
        if rkey == "3kdoc0000000a":
            value = {**value, "text": "Alice visits Lyon. Then."}
        out.append(_record(did, collection, rkey, value))
    if new_collection:
        corpus = {"$type": CORPUS, "name": "demo corpus", "createdAt": demo.WHEN}
        out.append(_record(demo.ALICE, CORPUS, "3kcor0000000a", corpus))
    return out


_CHILD = """
import os, signal, sys
import sqlalchemy.orm
from pyiceberg.catalog.sql import SqlCatalog
from lairs_etl.views import MemorySource, materialize
from lairs_etl.views.iceberg import LakeCatalog
from lairs_etl.views.layout import table_name
from tests.views.test_iceberg_kill import SECOND, second_records

lake, where, nth, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "new"
entered = []

def die(point):
    if point == where and len(entered) == nth:
        os.kill(os.getpid(), signal.SIGKILL)

commit = LakeCatalog.commit
def commit_table(self, key, version, *args):
    entered.append(table_name(key, version))
    print(entered[-1], flush=True)
    die("table")
    return commit(self, key, version, *args)
LakeCatalog.commit = commit_table

write_metadata = SqlCatalog._write_metadata
def write_metadata_then_die(metadata, io, metadata_path):
    write_metadata(metadata, io, metadata_path)
    die("metadata")
SqlCatalog._write_metadata = staticmethod(write_metadata_then_die)

session_commit = sqlalchemy.orm.Session.commit
def die_before_commit(self):
    die("catalog")
    return session_commit(self)
sqlalchemy.orm.Session.commit = die_before_commit

materialize(MemorySource(SECOND, second_records(new_collection=new)), lake)
print("finished", flush=True)
"""


def _check(condition: bool, what: str) -> None:
    """A precondition of the scenario: a failure, never an assertion an xfailed test would swallow."""
    if not condition:
        pytest.fail(what)


def _kill_child(lake: str, where: str, nth: int, *, new_collection: bool = False) -> list[str]:
    """Run the second materialization in a child killed at ``where`` of its ``nth`` table commit.

    The tables whose commit the child entered, in order (the last one is where it died).
    """
    flag = "new" if new_collection else "same"
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, lake, where, str(nth), flag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _check(run.returncode == -signal.SIGKILL, f"the child was not killed: {run.returncode}\n{run.stderr}")
    entered = run.stdout.split()
    _check(len(entered) == nth, f"the child died elsewhere: {entered}")
    return entered


def _tables(lake: str) -> dict[str, Table]:
    return {table.name()[-1]: table for table in LakeCatalog(lake).all_tables()}


def _commit_of(table: Table) -> str:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert snapshot.summary is not None
    return str(snapshot.summary.additional_properties[COMMIT_PROPERTY])


def _duck_rows(lake: str, tables: dict[str, Table], at: dict[str, int] | None = None) -> dict[str, list[str]]:
    """Every table's rows as DuckDB's ``iceberg_scan`` reads them (current snapshot, or ``at``)."""
    out: dict[str, list[str]] = {}
    with connect() as con:
        attach_lake(con, lake)
        load_extension(con, "iceberg")
        for name, table in tables.items():
            snapshot = "" if at is None else f", snapshot_from_id={int(at[name])}"
            sql = f"SELECT * FROM iceberg_scan({sql_literal(table.metadata_location)}{snapshot})"
            out[name] = _canonical(con.execute(sql).fetch_arrow_table().to_pylist())
    return out


def _read(lake: str, *, pyiceberg_too: bool = False) -> dict[str, list[str]]:
    """Every table's current rows as DuckDB reads them; ``pyiceberg_too``: pyiceberg's reader agrees."""
    tables = _tables(lake)
    rows = _duck_rows(lake, tables)
    for name, table in tables.items() if pyiceberg_too else ():
        ours = _canonical(table.scan().to_arrow().to_pylist(), empty_lists_as_null=True)
        duck = _canonical([json.loads(r) for r in rows[name]], empty_lists_as_null=True)
        assert ours == duck, name
    return rows


def _files(lake: str) -> set[Path]:
    return {p for p in Path(lake).rglob("*") if p.is_file()}


def _table_files(lake: str) -> set[Path]:
    """Files of the tables' directories (data and Iceberg metadata), not the lake's own records."""
    inside = [(p, p.relative_to(lake).parts) for p in _files(lake)]
    return {p for p, parts in inside if len(parts) > 1 and not parts[0].startswith("_")}


def _referenced(lake: str) -> set[Path]:
    """Every file some snapshot (or metadata log entry) of some table needs."""
    catalog = LakeCatalog(lake)
    urls = set[str]().union(*(catalog.referenced_files(t) for t in catalog.all_tables()))
    return {Path(url.removeprefix("file://")) for url in urls}


def _warehouse_views(db: str, *views: str) -> dict[str, list[str]]:
    """The rows of the warehouse's ``views`` (without the ``collection`` column it adds)."""
    with connect_warehouse(db) as con:
        return {
            view: _canonical(
                con.sql(f'SELECT * EXCLUDE (collection) FROM "{view}"').to_arrow_table().to_pylist()
            )
            for view in views
        }


@dataclass
class _First:
    lake: str
    rows: dict[str, list[str]]
    snapshots: dict[str, int]
    files: set[Path]
    lake_files: dict[str, bytes]


def _first(tmp_path: Path) -> _First:
    lake = str(tmp_path / "lake")
    _check(materialize(MemorySource(FIRST, demo.source_records()), lake).ok, "the first commit failed")
    tables = _tables(lake)
    _check(len(tables) >= 8, f"too few tables: {sorted(tables)}")
    snapshots = {name: table.current_snapshot() for name, table in tables.items()}
    _check(all(s is not None for s in snapshots.values()), "a table without a snapshot")
    ids = {name: s.snapshot_id for name, s in snapshots.items() if s is not None}
    return _First(lake, _read(lake), ids, _files(lake), lake_files(lake))


@pytest.fixture(scope="module")
def second_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every table's rows of the second commit, materialized whole into a lake of its own."""
    lake = str(tmp_path_factory.mktemp("reference") / "lake")
    assert materialize(MemorySource(SECOND, second_records()), lake).ok
    return _read(lake)


KILLS = [
    pytest.param("table", 1, id="before-the-first-table"),
    pytest.param("table", 2, id="between-tables"),
    pytest.param("metadata", 2, id="metadata-written-catalog-not-updated"),
    pytest.param("catalog", 2, id="inside-the-catalog-transaction"),
]


@pytest.mark.parametrize(("where", "nth"), KILLS)
def test_a_killed_commit_leaves_each_table_whole_and_expire_removes_what_it_wrote(
    tmp_path: Path, second_rows: dict[str, list[str]], where: str, nth: int
) -> None:
    first = _first(tmp_path)
    lake = first.lake
    assert all(first.rows[name] != second_rows[name] for name in first.rows)  # every table moves on
    catalog_file = Path(lake, "_lairs_catalog.sqlite")

    entered = _kill_child(lake, where, nth)

    if where == "catalog":  # died holding the catalog's write transaction: a hot journal
        assert Path(f"{catalog_file}-journal").exists() or Path(f"{catalog_file}-wal").exists()
    committed = set(entered[:-1])
    # The lake's own face is as the first commit left it: the manifest comes after the commits.
    assert lake_files(lake) == first.lake_files
    manifest = read_manifest(lake)
    assert manifest is not None
    assert manifest.commit == FIRST
    # Every table reads one commit whole: the child's if it committed it, else the first.
    tables = _tables(lake)
    assert set(tables) == set(first.rows)
    assert {name for name, table in tables.items() if _commit_of(table) == SECOND} == committed
    assert {_commit_of(table) for table in tables.values()} <= {FIRST, SECOND}
    rows = _read(lake, pyiceberg_too=True)
    for name, table in tables.items():
        expected = second_rows[name] if name in committed else first.rows[name]
        assert rows[name] == expected, name
        snapshot = table.current_snapshot()
        assert snapshot is not None
        if name in committed:
            assert snapshot.parent_snapshot_id == first.snapshots[name]
        else:
            assert snapshot.snapshot_id == first.snapshots[name]
    # ... and the first commit's snapshot of every table is still there to read.
    assert _duck_rows(lake, tables, at=first.snapshots) == first.rows
    # The warehouse builds, and each view reads its table's current snapshot.
    db = str(tmp_path / "w.duckdb")
    assert build_warehouse(lake, db).commit == FIRST
    # (``annotations`` itself adds resolved columns: its own rows are the base view's.)
    assert _warehouse_views(db, "expressions", base_name("annotations")) == {
        "expressions": rows["expressions__pub_layers_expression_expression"],
        base_name("annotations"): rows["annotations__pub_layers_annotation_annotationLayer"],
    }

    # What the child wrote that no snapshot registered is on storage until expire.
    orphans = _table_files(lake) - first.files - _referenced(lake)
    assert any(p.suffix == ".parquet" for p in orphans)
    if where in ("metadata", "catalog"):  # the dying table's new metadata, never in the catalog
        assert any(p.name.endswith(".metadata.json") for p in orphans)
    assert not any(p.name.startswith(".tmp-") for p in _files(lake))

    expired = expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))

    remaining = _files(lake)
    assert not orphans & remaining
    assert expired.files_removed >= len(orphans)
    assert expired.snapshots_expired == len(committed)  # the first commit's, of the tables moved on
    kept = _referenced(lake)
    assert kept <= remaining  # nothing a snapshot needs was deleted
    # Nothing else of the tables is left but what the manifest still names (the first
    # commit's files, which expiry never deletes: the repairing write may need them).
    assert _table_files(lake) <= kept | first.files
    assert _read(lake) == rows

    # A re-run of the second commit completes it.
    again = materialize(MemorySource(SECOND, second_records()), lake)
    assert again.ok
    tables = _tables(lake)
    assert {_commit_of(table) for table in tables.values()} == {SECOND}
    assert _read(lake) == {name: second_rows[name] for name in tables}
    manifest = read_manifest(lake)
    assert manifest is not None
    assert manifest.commit == SECOND


def test_expire_removes_what_a_killed_run_wrote_for_a_table_it_never_created(tmp_path: Path) -> None:
    first = _first(tmp_path)
    lake = first.lake
    table = "records__pub_layers_corpus_corpus"  # a collection the first commit did not have

    entered = _kill_child(lake, "table", 2, new_collection=True)

    _check(table not in entered and table not in _tables(lake), "the table was created")
    written = _table_files(lake) - first.files - _referenced(lake)
    _check(any(f"collection={CORPUS}/" in str(p) for p in written), "the child wrote no file of it")

    expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))

    assert not written & _files(lake)


def test_a_tag_for_the_previous_commit_after_a_kill_holds_only_that_commit(tmp_path: Path) -> None:
    first = _first(tmp_path)
    lake = first.lake
    _kill_child(lake, "table", 2)  # one table committed the second commit

    with pytest.raises(ViewsError, match="interrupted"):  # the tables may mix the two commits
        tag_lake(lake, "release-1", commit=FIRST)
    assert "release-1" not in LakeCatalog(lake).tags()

    # The repairing write brings every table back to FIRST, and the tag then holds only it.
    assert materialize(MemorySource(FIRST, demo.source_records()), lake).repaired == (SECOND,)
    tagged = tag_lake(lake, "release-1", commit=FIRST)
    assert _read(lake) == first.rows
    assert set(tagged) == set(first.snapshots)


def test_rematerializing_the_previous_commit_after_a_kill_brings_every_table_back(tmp_path: Path) -> None:
    first = _first(tmp_path)
    lake = first.lake
    _kill_child(lake, "table", 2)

    summary = materialize(MemorySource(FIRST, demo.source_records()), lake)
    _check(summary.ok, "the re-run failed")
    assert summary.repaired == (SECOND,)
    assert not list(Path(lake, WRITES_DIR).glob("*.json"))  # repaired: no marker left

    tables = _tables(lake)
    assert {name: _commit_of(table) for name, table in tables.items()} == dict.fromkeys(tables, FIRST)
    assert _read(lake) == first.rows


def test_one_actor_s_sync_after_a_kill_and_expire_reads_the_lake(tmp_path: Path) -> None:
    first = _first(tmp_path)
    lake = first.lake
    expressions = "records__pub_layers_expression_expression"
    order = sorted(first.rows)  # the tables are committed in this order
    entered = _kill_child(lake, "table", order.index(expressions) + 2)
    _check(expressions in entered[:-1], f"{expressions} not committed: {entered}")
    expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))

    summary = materialize(MemorySource(SECOND, second_records()), lake, dids=[demo.BOB])

    assert summary.ok
    assert summary.manifest.actor_commits[demo.BOB] == SECOND
