"""Definition metadata of ``layers/parquet``: the lake tables it writes, from the generated models.

A data engineer opening the asset sees what lands in the lake before any run: the
columns every record table shares (``dagster/column_schema``) and, per tracked
collection, its warehouse view and its columns (``lairs_etl/tables``). Both are derived
from :func:`lairs_etl.views.table.record_schema`, i.e. from the models generated from
the lexicons, so a Layers release that adds a property shows up here with no edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from lairs_etl.dagster.constants import META_TABLES

__all__ = ["lake_tables_metadata"]

_SHARED = {
    "uri": "The record's AT-URI.",
    "did": "The DID of the actor holding the record (the lake's partition column).",
    "rkey": "The record key.",
    "cid": "The record's CID (DAG-CBOR, SHA-256).",
    "commit": "The corpus repository commit the row was written from.",
    "$type": "The record's lexicon NSID.",
}


def lake_tables_metadata(collections: Sequence[str]) -> Mapping[str, object]:
    """``dagster/column_schema`` (shared columns) and ``lairs_etl/tables`` (one row per collection)."""
    from lairs_etl.views import TableKey  # heavy: pyarrow and the generated models
    from lairs_etl.views.layout import RECORDS_DATASET, sql_name, table_name
    from lairs_etl.views.table import record_schema

    schemas = {nsid: record_schema(nsid) for nsid in collections}
    if not schemas:
        return {}
    shared = [f for f in next(iter(schemas.values())) if all(f.name in s.names for s in schemas.values())]
    column_schema = TableSchema(
        columns=[TableColumn(f.name, str(f.type), description=_SHARED.get(f.name)) for f in shared]
    )
    names = {f.name for f in shared}
    rows = [
        TableRecord(
            {
                "collection": nsid,
                "view": sql_name(TableKey(RECORDS_DATASET, nsid)),
                "iceberg_table": table_name(TableKey(RECORDS_DATASET, nsid), 1),
                "columns": len(schema),
                "own_columns": ", ".join(n for n in schema.names if n not in names),
            }
        )
        for nsid, schema in schemas.items()
    ]
    tables = MetadataValue.table(
        rows,
        schema=TableSchema(
            columns=[
                TableColumn("collection", "string", description="The record type (NSID)"),
                TableColumn("view", "string", description="Its warehouse view"),
                TableColumn(
                    "iceberg_table",
                    "string",
                    description="Its Iceberg table (a later schema version adds __v<N>)",
                ),
                TableColumn("columns", "int", description="Columns in all"),
                TableColumn("own_columns", "string", description="Columns besides the shared ones"),
            ]
        ),
    )
    return {"dagster/column_schema": MetadataValue.table_schema(column_schema), META_TABLES: tables}
