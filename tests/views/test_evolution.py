"""Adding, widening and dropping keep a table's version, in place; a type change moves it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import fsspec
import pyarrow as pa
import pytest
from pyiceberg.table import Table
from pyiceberg.table.update.schema import UpdateSchema
from pyiceberg.types import StringType

from lairs_etl.views import MemorySource, TableEntry, TableKey, materialize, read_manifest
from lairs_etl.views.duck import connect, load_extension
from lairs_etl.views.evolution import breaking_reason, next_version
from lairs_etl.views.iceberg import LakeCatalog
from lairs_etl.views.layout import MANIFEST_NAME
from lairs_etl.views.manifest import encode_manifest
from tests.views import demo

_OLD = pa.schema([("a", pa.string()), ("s", pa.struct([("x", pa.int64())])), ("l", pa.list_(pa.int64()))])


@pytest.mark.parametrize(
    ("new", "breaking"),
    [
        (_OLD, False),
        (_OLD.append(pa.field("b", pa.string())), False),
        (
            pa.schema(
                [
                    ("a", pa.string()),
                    ("s", pa.struct([("x", pa.int64()), ("y", pa.bool_())])),
                    ("l", pa.list_(pa.int64())),
                ]
            ),
            False,
        ),
        (pa.schema([("a", pa.string()), ("l", pa.list_(pa.int64()))]), False),
        (
            pa.schema(
                [("a", pa.int64()), ("s", pa.struct([("x", pa.int64())])), ("l", pa.list_(pa.int64()))]
            ),
            True,
        ),
        (pa.schema([("a", pa.string()), ("s", pa.struct([])), ("l", pa.list_(pa.int64()))]), False),
        (
            pa.schema(
                [("a", pa.string()), ("s", pa.struct([("x", pa.int32())])), ("l", pa.list_(pa.int64()))]
            ),
            True,
        ),
        (
            pa.schema(
                [("a", pa.string()), ("s", pa.struct([("x", pa.int64())])), ("l", pa.list_(pa.string()))]
            ),
            True,
        ),
    ],
)
def test_breaking_reason(new: pa.Schema, breaking: bool) -> None:
    assert (breaking_reason(_OLD, new) is not None) == breaking


def test_next_version() -> None:
    assert next_version("t", None, None, _OLD) == (1, None)
    assert next_version("t", 3, _OLD, _OLD.append(pa.field("z", pa.int64()))) == (3, None)
    version, change = next_version("t", 3, _OLD, pa.schema([("a", pa.int64())]))
    assert version == 4
    assert change is not None
    assert change.new_version == 4
    assert not change.in_place
    version, change = next_version("t", 3, _OLD, pa.schema([("a", pa.string()), ("s", pa.struct([]))]))
    assert version == 3
    assert change is not None
    assert change.in_place
    assert "s.x" in change.reason
    assert "l" in change.reason.split(": ")[1].split(", ")


def _rewrite_manifest(lake: str, key: TableKey, schema: pa.Schema) -> None:
    manifest = read_manifest(lake)
    assert manifest is not None
    tables = tuple(dataclasses.replace(e, schema=schema) if e.key == key else e for e in manifest.tables)
    fs, root = fsspec.core.url_to_fs(lake)
    fs.pipe_file(f"{root}/{MANIFEST_NAME}", encode_manifest(dataclasses.replace(manifest, tables=tables)))


def _older_release(
    lake: str,
    key: TableKey,
    change_table: Callable[[UpdateSchema], object],
    change_schema: Callable[[pa.Schema], pa.Schema],
) -> tuple[Table, TableEntry]:
    """The demo lake as an older Layers release would have left ``key``'s table.

    Its Iceberg schema changed by ``change_table`` (marked as another writer's), and
    the lake's manifest recording ``change_schema`` of today's schema.
    """
    materialize(MemorySource("bafycommit", demo.source_records()), lake)
    manifest = read_manifest(lake)
    assert manifest is not None
    entry = manifest.table(key)
    assert entry is not None
    table = LakeCatalog(lake).load(key, 1)
    assert table is not None
    with table.transaction() as tx:
        with tx.update_schema() as update:
            change_table(update)
        tx.set_properties({"lairs.arrow-schema-sha256": "the older writer's"})
    _rewrite_manifest(lake, key, change_schema(entry.schema))
    return table, entry


def test_incompatible_schema_writes_a_new_version_and_reports_it(tmp_path: object) -> None:
    lake = f"{tmp_path}/lake"
    source = MemorySource("bafycommit", demo.source_records())
    materialize(source, lake)
    key = TableKey("records", demo.EXPR)
    # As if the previous Layers version had typed `kind` as an integer.
    _rewrite_manifest(lake, key, pa.schema([("uri", pa.string()), ("kind", pa.int64())]))
    summary = materialize(source, lake)
    assert [(c.table, c.old_version, c.new_version) for c in summary.schema_changes] == [(key.name, 1, 2)]
    entry = summary.manifest.table(key)
    assert entry is not None
    assert entry.version == 2
    assert entry.rows == 5
    fs, root = fsspec.core.url_to_fs(lake)
    assert fs.glob(f"{root}/records/v2/collection={demo.EXPR}/*/part-*.parquet")
    assert fs.glob(
        f"{root}/records/v1/collection={demo.EXPR}/*/part-*.parquet"
    )  # old version left for readers


def test_narrower_old_schema_only_widens(tmp_path: object) -> None:
    lake = f"{tmp_path}/lake"
    source = MemorySource("bafycommit", demo.source_records())
    materialize(source, lake)
    key = TableKey("records", demo.EXPR)
    _rewrite_manifest(lake, key, pa.schema([("uri", pa.string(), False), ("kind", pa.string())]))
    summary = materialize(source, lake)
    assert summary.schema_changes == ()
    entry = summary.manifest.table(key)
    assert entry is not None
    assert entry.version == 1


def test_a_dropped_property_drops_its_column_in_place_and_keeps_the_table(tmp_path: object) -> None:
    lake = f"{tmp_path}/lake"
    key = TableKey("records", demo.EXPR)
    # As if the previous Layers version had a `legacy` property, dropped since.
    table, entry = _older_release(
        lake,
        key,
        lambda update: update.add_column("legacy", StringType()),
        lambda schema: schema.append(pa.field("legacy", pa.string())),
    )

    summary = materialize(MemorySource("bafynext", demo.source_records()), lake, dids=[demo.BOB])
    changes = [(c.table, c.old_version, c.new_version, c.in_place) for c in summary.schema_changes]
    assert changes == [(key.name, 1, 1, True)]
    assert "legacy" in summary.schema_changes[0].reason
    assert summary.actors == (demo.BOB,)  # no full rewrite for an in-place change
    after = LakeCatalog(lake).load(key, 1)
    assert after is not None
    assert after.name() == table.name()  # the same table, no new version
    rows = after.scan().to_arrow()
    assert "legacy" not in rows.column_names
    assert rows.num_rows == entry.rows
    with connect() as con:
        load_extension(con, "iceberg")
        read = con.execute(f"SELECT * FROM iceberg_scan('{after.metadata_location}')").fetch_arrow_table()
    assert read.num_rows == entry.rows
    assert "legacy" not in read.column_names


def test_a_column_added_in_place_answers_null_filters_in_the_files_written_before(tmp_path: object) -> None:
    # DuckDB 1.4 skips every file whose entry has no counts for a filtered column
    # (duckdb-iceberg#782): the files kept across an added column are re-registered.
    lake = f"{tmp_path}/lake"
    key = TableKey("records", demo.EXPR)
    # As if the previous Layers version had no `kind`: the table lacks it, then gains it.
    _older_release(
        lake,
        key,
        lambda update: update.delete_column("kind"),
        lambda schema: schema.remove(schema.get_field_index("kind")),
    )

    summary = materialize(MemorySource("bafynext", demo.source_records()), lake, dids=[demo.BOB])
    assert summary.actors == (demo.BOB,)  # the other actors' files are kept, not rewritten
    after = LakeCatalog(lake).load(key, 1)
    assert after is not None
    assert "kind" in after.schema().column_names
    assert len(list(after.scan().plan_files())) > 1
    with connect() as con:
        load_extension(con, "iceberg")
        source = f"iceberg_scan('{after.metadata_location}')"
        for test in ("IS NULL", "IS NOT NULL"):
            pushed = con.execute(f"SELECT count(*) FROM {source} WHERE kind {test}").fetchone()
            counted = con.execute(f"SELECT count(*) FILTER (WHERE kind {test}) FROM {source}").fetchone()
            assert pushed == counted, test
        assert con.execute(f"SELECT count(*) FROM {source} WHERE kind IS NOT NULL").fetchone() != (0,)


def test_a_field_dropped_inside_a_list_is_found_whichever_list_width_the_table_reports() -> None:
    from lairs_etl.views.evolution import dropped_fields

    item = pa.struct([("a", pa.int64()), ("b", pa.string())])
    new = pa.schema([("l", pa.list_(pa.struct([("a", pa.int64())])))])
    assert dropped_fields(pa.schema([("l", pa.list_(item))]), new) == ["l.element.b"]
    read_back = pa.schema([("l", pa.large_list(item))])  # as an Iceberg table's schema reads back
    assert dropped_fields(read_back, new) == ["l.element.b"]
