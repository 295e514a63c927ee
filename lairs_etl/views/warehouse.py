"""The DuckDB warehouse: one view per table over the lake's Iceberg tables, plus dashboard tables.

:func:`build_warehouse` reads the lake's manifest and catalog and writes a DuckDB file holding

- one view per table (record types as ``pub_layers_annotation_annotationLayer``, and
  ``annotations``, ``tokens``, ``judgments``, ``expressions``, ``invalid``) reading the
  Iceberg table's snapshot current at build time through DuckDB's ``iceberg`` extension
  (``iceberg_scan`` of that snapshot's metadata file: every query of one build reads
  one consistent state, even while a sync commits), with a ``collection`` column (the
  dataset views union several collections' tables); a table without any row is an
  empty table of its schema, so dashboards never miss a name;
- ``lairs_actor_collection_stats`` (records, invalid records, bytes per actor and
  collection), ``lairs_tables`` (rows and version per table), ``lairs_warehouse`` (the
  lake URL and provenance, one row) and ``lairs_refresh_history`` (one row per build,
  carried over from the previous file).

The file is built beside the target and renamed over it, so readers never see a half
built warehouse. :func:`connect_warehouse` opens it with the lake readable again
(credentials are never stored in the file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from lairs_etl.errors import ViewsError
from lairs_etl.views.duck import connect, load_extension
from lairs_etl.views.invalid import INVALID_DATASET
from lairs_etl.views.lakeaccess import attach_lake, sql_literal
from lairs_etl.views.layout import sql_name, table_name
from lairs_etl.views.manifest import ActorStats, Manifest, TableEntry
from lairs_etl.views.materialize import read_manifest
from lairs_etl.views.media import MEDIA_KEY, MEDIA_VIEW
from lairs_etl.views.resolved import (
    CORPUS_MEMBERS,
    MEMBERSHIP_VIEW,
    RESOLVED_DATASETS,
    base_name,
    create_resolved_views,
)

if TYPE_CHECKING:
    from lairs_etl.views.iceberg import LakeCatalog


__all__ = ["WarehouseSummary", "build_warehouse", "connect_warehouse"]


@dataclass(frozen=True, slots=True)
class WarehouseSummary:
    """What the warehouse holds, with the numbers a dashboard (or Dagster metadata) shows."""

    db_path: str
    lake_url: str
    commit: str
    lexicon_sha256: str
    refreshed_at: dt.datetime
    views: tuple[str, ...]
    table_rows: Mapping[str, int]
    stats: tuple[ActorStats, ...]

    @property
    def records(self) -> int:
        """Valid records in the lake."""
        return sum(s.records for s in self.stats)

    @property
    def invalid_records(self) -> int:
        """Invalid records in the lake."""
        return sum(s.invalid_records for s in self.stats)

    @property
    def bytes(self) -> int:
        """DAG-CBOR bytes of every record, valid or not."""
        return sum(s.bytes for s in self.stats)

    @property
    def actors(self) -> int:
        """Distinct actors with records."""
        return len({s.did for s in self.stats})

    def numbers(self) -> dict[str, int]:
        """The counts a dashboard plots over time (Dagster numeric metadata), flat."""
        return {
            "actors": self.actors,
            "records": self.records,
            "invalid_records": self.invalid_records,
            "bytes": self.bytes,
            **{f"rows.{name}": rows for name, rows in self.table_rows.items()},
        }

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the CLI and logs."""
        return {
            "warehouse": self.db_path,
            "lake": self.lake_url,
            "commit": self.commit,
            "refreshed_at": self.refreshed_at.isoformat(),
            "actors": self.actors,
            "records": self.records,
            "invalid_records": self.invalid_records,
            "bytes": self.bytes,
            "views": list(self.views),
            "table_rows": dict(self.table_rows),
        }


def build_warehouse(
    lake_url: str,
    db_path: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    at: str | None = None,
) -> WarehouseSummary:
    """(Re)build the DuckDB file ``db_path`` over the lake at ``lake_url`` (at tag ``at``, if given).

    Raises:
        ViewsError: nothing was materialized at ``lake_url``, or DuckDB failed.
        ConfigError: the lake's protocol has no filesystem here.
    """
    manifest = read_manifest(lake_url, storage_options)
    if manifest is None:
        raise ViewsError(f"no views materialized at {lake_url}")
    refreshed = dt.datetime.now(dt.UTC).replace(microsecond=0)
    temporary = f"{db_path}.building"
    if os.path.exists(temporary):
        os.unlink(temporary)
    try:
        with connect(temporary) as con:
            attach_lake(con, lake_url, storage_options)
            load_extension(con, "iceberg")
            views = _create_views(con, _catalog(lake_url, storage_options), manifest, at=at)
            _create_summaries(con, lake_url, manifest, refreshed, db_path)
        os.replace(temporary, db_path)
    except duckdb.Error as exc:
        raise ViewsError(f"cannot build warehouse {db_path}: {exc}") from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    rows: dict[str, int] = {}
    for entry in manifest.tables:
        rows[sql_name(entry.key)] = rows.get(sql_name(entry.key), 0) + entry.rows
    return WarehouseSummary(
        db_path=db_path,
        lake_url=lake_url,
        commit=manifest.commit,
        lexicon_sha256=manifest.lexicon_sha256,
        refreshed_at=refreshed,
        views=views,
        table_rows=dict(sorted(rows.items())),
        stats=manifest.stats,
    )


def connect_warehouse(
    db_path: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    read_only: bool = True,
    at: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with its lake readable (``storage_options`` as for the lake).

    ``at``: read every table as the lake's tag of that name holds it (temporary views
    over the warehouse's, for this connection only).

    Raises:
        ViewsError: no warehouse at ``db_path``, or DuckDB cannot open it.
    """
    if not os.path.exists(db_path):
        raise ViewsError(f"no warehouse at {db_path}: build it with `lairs-etl materialize --warehouse`")
    try:
        con = connect(db_path, read_only=read_only)
        rows = con.execute("SELECT lake_url FROM lairs_warehouse").fetchall()
    except duckdb.Error as exc:
        raise ViewsError(f"cannot open warehouse {db_path}: {exc}") from exc
    if rows:
        lake_url = str(rows[0][0])
        attach_lake(con, lake_url, storage_options)
        load_extension(con, "iceberg")
        if at is not None:
            _at_tag(con, lake_url, storage_options, at)
    elif at is not None:
        raise ViewsError(f"the warehouse {db_path} names no lake to read at {at!r}")
    return con


def _at_tag(
    con: duckdb.DuckDBPyConnection, lake_url: str, storage_options: Mapping[str, object] | None, tag: str
) -> None:
    """Shadow the warehouse's views with temporary ones reading the lake at ``tag``."""
    manifest = read_manifest(lake_url, storage_options)
    catalog = _catalog(lake_url, storage_options)
    if manifest is None or tag not in catalog.tags():
        con.close()
        raise ViewsError(f"the lake at {lake_url} has no tag {tag!r} (lairs-etl lake tag)")
    try:
        _create_views(con, catalog, manifest, at=tag, temporary=True)
    except duckdb.Error as exc:
        con.close()
        raise ViewsError(f"cannot read the lake at {tag!r}: {exc}") from exc


def _catalog(lake_url: str, storage_options: Mapping[str, object] | None) -> LakeCatalog:
    from lairs_etl.views.iceberg import LakeCatalog  # pyiceberg takes a second to import: when needed

    return LakeCatalog(lake_url, storage_options)


def _create_views(
    con: duckdb.DuckDBPyConnection,
    catalog: LakeCatalog,
    manifest: Manifest,
    *,
    at: str | None = None,
    temporary: bool = False,
) -> tuple[str, ...]:
    """One view per table name, each Iceberg table read at its current snapshot or at tag ``at``.

    A table with no snapshot then (no rows yet, or created after the tag) reads as an
    empty table of its schema. The views that resolve references (``annotations``,
    ``corpus_members``: :mod:`.resolved`) come last, over the others.
    """
    grouped: dict[str, list[TableEntry]] = {}
    for entry in manifest.tables:
        grouped.setdefault(sql_name(entry.key), []).append(entry)
    prefix = "TEMP " if temporary else ""
    created: set[str] = set()
    for name, entries in sorted(grouped.items()):
        scans: dict[str, str] = {}  # by Iceberg table: the invalid tables of every collection are one
        for entry in entries:
            if not entry.rows and at is None:
                continue
            table = table_name(entry.key, entry.version)
            if table in scans:
                continue
            found = catalog.snapshot_at(entry.key, entry.version, at)
            if found is None:
                if entry.rows and at is None:
                    raise ViewsError(f"the lake's catalog has no table {table}: re-run materialize")
                continue
            location, snapshot = sql_literal(found[0]), found[1]
            merged = entry.key.dataset == INVALID_DATASET
            collection = "split_part(uri, '/', 4)" if merged else sql_literal(entry.key.collection)
            scan = f"iceberg_scan({location}, snapshot_from_id = {int(snapshot or 0)})"
            scans[table] = f"SELECT *, {collection} AS collection FROM {scan}"  # noqa: S608 - literals
        own = base_name(name) if name in RESOLVED_DATASETS else name
        if scans:
            # The scans themselves are the view's query: every level of SELECT * around them
            # binds the table's ~150 columns again on each query (measured: 0.6 ms a level).
            _create(con, prefix + "VIEW", own, " UNION ALL BY NAME ".join(scans.values()))
        else:
            empty = _with_partition_columns(entries[0].schema).empty_table()
            con.register("lairs_source", empty)
            _create(con, prefix + "TABLE", own, "SELECT * FROM lairs_source")
            con.unregister("lairs_source")
        created.add(own)
    # The media table is the lake's too, though no record table feeds it (see .media).
    media = catalog.snapshot_at(MEDIA_KEY, 1, at)
    if media is not None:
        scan = f"iceberg_scan({sql_literal(media[0])}, snapshot_from_id = {int(media[1] or 0)})"
        _create(con, prefix + "VIEW", MEDIA_VIEW, f"SELECT * FROM {scan}")  # noqa: S608 - literals
        created.add(MEDIA_VIEW)
    create_resolved_views(con, created, temporary=temporary)
    resolved = {CORPUS_MEMBERS} if MEMBERSHIP_VIEW in created else set()
    return tuple(sorted(set(grouped) | resolved | ({MEDIA_VIEW} & created)))


def _create(con: duckdb.DuckDBPyConnection, kind: str, name: str, query: str) -> None:
    """``CREATE OR REPLACE <kind> "<name>" AS <query>``.

    ``name`` is a dataset name or an NSID with dots replaced (no quote can occur, and
    it is quoted anyway); ``query`` selects from a registered relation or from
    ``iceberg_scan`` calls whose paths went through :func:`sql_literal`.
    """
    ident = '"' + name.replace('"', '""') + '"'
    con.execute(f"CREATE OR REPLACE {kind} {ident} AS {query}")


def _with_partition_columns(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field("collection", pa.string()))


def _create_summaries(
    con: duckdb.DuckDBPyConnection, lake_url: str, manifest: Manifest, refreshed: dt.datetime, db_path: str
) -> None:
    stats = pa.Table.from_pylist(
        [
            {
                "did": s.did,
                "collection": s.collection,
                "records": s.records,
                "invalid_records": s.invalid_records,
                "bytes": s.bytes,
            }
            for s in manifest.stats
        ],
        schema=pa.schema(
            [
                ("did", pa.string()),
                ("collection", pa.string()),
                ("records", pa.int64()),
                ("invalid_records", pa.int64()),
                ("bytes", pa.int64()),
            ]
        ),
    )
    tables = pa.Table.from_pylist(
        [
            {
                "name": sql_name(e.key),
                "dataset": e.key.dataset,
                "collection": e.key.collection,
                "version": e.version,
                "rows": e.rows,
                "partitions": len(e.partitions),
            }
            for e in manifest.tables
        ],
        schema=pa.schema(
            [
                ("name", pa.string()),
                ("dataset", pa.string()),
                ("collection", pa.string()),
                ("version", pa.int64()),
                ("rows", pa.int64()),
                ("partitions", pa.int64()),
            ]
        ),
    )
    for name, table in (("lairs_actor_collection_stats", stats), ("lairs_tables", tables)):
        con.register("lairs_source", table)
        _create(con, "TABLE", name, "SELECT * FROM lairs_source")
        con.unregister("lairs_source")
    con.execute(
        "CREATE OR REPLACE TABLE lairs_warehouse AS SELECT ? AS lake_url, ? AS commit, "
        "? AS lexicon_sha256, ? AS generator, ?::TIMESTAMPTZ AS refreshed_at",
        [lake_url, manifest.commit, manifest.lexicon_sha256, manifest.generator, refreshed],
    )
    con.execute(
        "CREATE TABLE lairs_refresh_history (refreshed_at TIMESTAMPTZ, commit VARCHAR, actors BIGINT, "
        "records BIGINT, invalid_records BIGINT, bytes BIGINT, tables BIGINT)"
    )
    if os.path.exists(db_path):
        con.execute(f"ATTACH {sql_literal(db_path)} AS previous (READ_ONLY)")
        # A warehouse from before the history table has none to carry over.
        with contextlib.suppress(duckdb.CatalogException):
            con.execute("INSERT INTO lairs_refresh_history SELECT * FROM previous.lairs_refresh_history")
        con.execute("DETACH previous")
    con.execute(
        "INSERT INTO lairs_refresh_history VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            refreshed,
            manifest.commit,
            len({s.did for s in manifest.stats}),
            sum(s.records for s in manifest.stats),
            sum(s.invalid_records for s in manifest.stats),
            sum(s.bytes for s in manifest.stats),
            sum(1 for e in manifest.tables if e.rows),
        ],
    )
