"""The lake: Iceberg tables of a repository revision, and the DuckDB warehouse over them.

Views are derived, never the source of truth: :func:`materialize` writes them from a
:class:`ViewSource` (a repository revision through :class:`RepositorySource`) under any
fsspec URL, byte-identical for the same revision, and commits them to the lake's
Iceberg tables (:mod:`.iceberg`; tags and expiry in :mod:`.maintenance`);
:func:`build_warehouse` puts a DuckDB file over them; :func:`run_query` and
:func:`render` serve ``lairs-etl sql``.
Arrow schemas come from the generated models (:func:`record_schema`); records come back
out of a table exactly (:func:`table_values`).
"""

from __future__ import annotations

from lairs_etl.views.catalogref import CatalogChoice
from lairs_etl.views.evolution import SchemaChange
from lairs_etl.views.layout import TableKey, decode_actor, encode_actor, partition_path, sql_name
from lairs_etl.views.manifest import ActorStats, Manifest, TableEntry
from lairs_etl.views.materialize import MaterializeSummary, materialize, mirror_tags, read_manifest
from lairs_etl.views.query import FORMATS, render, run_query
from lairs_etl.views.shapes import EXPLODED_VIEWS, ExplodedView, Level
from lairs_etl.views.source import (
    MemorySource,
    PartitionPatch,
    RepositorySource,
    SourceRecord,
    SourceRefs,
    ViewSource,
)
from lairs_etl.views.table import RecordRow, record_schema, records_table, table_values
from lairs_etl.views.warehouse import WarehouseSummary, build_warehouse, connect_warehouse
from lairs_etl.views.writer import WriteOptions

__all__ = [
    "EXPLODED_VIEWS",
    "FORMATS",
    "ActorStats",
    "CatalogChoice",
    "ExplodedView",
    "Level",
    "Manifest",
    "MaterializeSummary",
    "MemorySource",
    "PartitionPatch",
    "RecordRow",
    "RepositorySource",
    "SchemaChange",
    "SourceRecord",
    "SourceRefs",
    "TableEntry",
    "TableKey",
    "ViewSource",
    "WarehouseSummary",
    "WriteOptions",
    "build_warehouse",
    "connect_warehouse",
    "decode_actor",
    "encode_actor",
    "materialize",
    "mirror_tags",
    "partition_path",
    "read_manifest",
    "record_schema",
    "records_table",
    "render",
    "run_query",
    "sql_name",
    "table_values",
]
