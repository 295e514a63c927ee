"""The Parquet lake: one file of valid records and one of diagnostics per partition.

Layout under the lake root (hive-style, so DuckDB and pyarrow datasets read a whole
collection or everything with one glob)::

    records/collection=<nsid>/actor=<did, percent-encoded>.parquet
    diagnostics/collection=<nsid>/actor=<did, percent-encoded>.parquet

A record's row keeps its JSON form as a string next to its address and CID: the typed,
exploded views are :mod:`lairs_etl.views`' job; this file is what the partition asset
promises, written whole and replaced atomically enough for readers (one ``put``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from lairs_etl.atproto.syntax import Did, Nsid
from lairs_etl.atproto.xrpc import JsonValue

__all__ = [
    "DiagnosticRow",
    "RecordRow",
    "partition_path",
    "read_row_count",
    "write_diagnostics",
    "write_records",
]

_RECORDS = pa.schema(
    [
        ("uri", pa.string()),
        ("did", pa.string()),
        ("collection", pa.string()),
        ("rkey", pa.string()),
        ("cid", pa.string()),
        ("record", pa.string()),
    ]
)
_DIAGNOSTICS = pa.schema(
    [
        ("uri", pa.string()),
        ("cid", pa.string()),
        ("path", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One valid record as the lake stores it."""

    uri: str
    rkey: str
    cid: str
    value: JsonValue


@dataclass(frozen=True, slots=True)
class DiagnosticRow:
    """One violation of one record."""

    uri: str
    cid: str
    path: str
    code: str
    message: str


def partition_path(root: str, dataset: str, did: Did, collection: Nsid) -> str:
    """Where a partition's file of ``dataset`` (``records`` or ``diagnostics``) lives."""
    return f"{root}/{dataset}/collection={collection}/actor={quote(str(did), safe='')}.parquet"


def write_records(fs: Any, path: str, did: Did, collection: Nsid, rows: Sequence[RecordRow]) -> int:
    """Write the partition's valid records; returns the row count written."""
    table = pa.Table.from_pydict(
        {
            "uri": [r.uri for r in rows],
            "did": [str(did)] * len(rows),
            "collection": [str(collection)] * len(rows),
            "rkey": [r.rkey for r in rows],
            "cid": [r.cid for r in rows],
            "record": [json.dumps(r.value, sort_keys=True, separators=(",", ":")) for r in rows],
        },
        schema=_RECORDS,
    )
    _put(fs, path, table)
    return int(table.num_rows)


def write_diagnostics(fs: Any, path: str, rows: Iterable[DiagnosticRow]) -> int:
    """Write the partition's diagnostics; returns the row count written."""
    listed = list(rows)
    columns = {name: [getattr(r, name) for r in listed] for name in _DIAGNOSTICS.names}
    table = pa.Table.from_pydict(columns, schema=_DIAGNOSTICS)
    _put(fs, path, table)
    return int(table.num_rows)


def read_row_count(fs: Any, path: str) -> int:
    """Rows in a written file, from its footer (what the row-count check compares)."""
    with fs.open(path, "rb") as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


def _put(fs: Any, path: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write(buffer.getvalue())
