"""One typed Arrow table per record type, and back to the records it was built from.

A record table has the address columns (:data:`ADDRESS_COLUMNS`), then one column per
property of the record type (lexicon names, ``$type`` included, typed by
:mod:`.codec`), then :data:`RESIDUAL_COLUMN`: the JSON text of the values the typed
columns could not hold exactly, as ``[[path, value], …]`` (null when there are none).
``collection`` is not a column of the files: it is their hive partition key, and
Athena and BigQuery refuse a column that is both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
from pydantic import JsonValue

from lairs_etl.errors import ViewsError
from lairs_etl.records import record_model
from lairs_etl.views.bulk import bulk_plan
from lairs_etl.views.codec import MISSING, Residual, StructCodec, dumps_json, model_codec, path_keys

__all__ = [
    "ADDRESS_COLUMNS",
    "RESIDUAL_COLUMN",
    "RecordRow",
    "record_codec",
    "record_schema",
    "records_table",
    "table_values",
]

#: Address of every row: the record's AT-URI and parts, its CID, the repository commit.
ADDRESS_COLUMNS: tuple[str, ...] = ("uri", "did", "rkey", "cid", "commit")
RESIDUAL_COLUMN = "_residual"
_ADDRESS_FIELDS = [pa.field(name, pa.string(), nullable=False) for name in ADDRESS_COLUMNS]


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One record as the views take it: its address, CID and JSON-form value."""

    did: str
    collection: str
    rkey: str
    cid: str
    value: Mapping[str, JsonValue]

    @property
    def uri(self) -> str:
        """``at://did/collection/rkey``, from parts already validated by the repository."""
        return f"at://{self.did}/{self.collection}/{self.rkey}"


BULK_MIN_ROWS = 512
"""Fewer rows than this are encoded by the codec alone: the bulk path costs about 8 ms
a call whatever its size (a compute kernel per schema node), the codec about 20 µs a row
(measured over the 26 types: 25 rows 8.6 ms bulk vs 1.4 ms codec, 400 rows 12 vs 8 ms,
1,600 rows 26 vs 35 ms). A corpus of many small actors is mostly small partitions."""


@cache
def record_codec(nsid: str) -> StructCodec:
    """The codec of record type ``nsid``, derived from its generated model.

    Raises:
        LexiconError: no record lexicon has that NSID.
        ViewsError: a property of the record type has the name of an address column.
    """
    codec = model_codec(record_model(nsid))
    clash = sorted(set(codec.fields) & {*ADDRESS_COLUMNS, RESIDUAL_COLUMN, "collection", "actor"})
    if clash:
        raise ViewsError(f"record type {nsid} has properties named like view columns: {clash}")
    return codec


def record_schema(nsid: str) -> pa.Schema:
    """The Arrow schema of record type ``nsid``'s table (see the module docstring)."""
    codec = record_codec(nsid)
    fields = [*_ADDRESS_FIELDS, *codec.arrow, pa.field(RESIDUAL_COLUMN, pa.string())]
    return pa.schema(fields)


def records_table(nsid: str, rows: Sequence[RecordRow], commit: str) -> pa.Table:
    """The typed table of ``rows`` (all of type ``nsid``), in the order given.

    Rows go through :mod:`.bulk` (Arrow's C++ reader) where it reproduces the codec
    exactly, through the codec where it does not: the table is the codec's either way.
    Fewer than :data:`BULK_MIN_ROWS` rows (but some) go through the codec alone.

    Raises:
        ViewsError: Arrow refused a value the codec produced (a bug, not bad data).
    """
    codec = record_codec(nsid)
    struct: pa.Array | None = None
    exact: Sequence[int] = range(len(rows))
    if not rows or len(rows) >= BULK_MIN_ROWS:
        struct, exact = bulk_plan(codec).encode([row.value for row in rows])
    residuals: list[str | None] = [None] * len(rows)
    if exact:
        encoded: list[Any] = []
        for index in exact:
            residual: Residual = []
            encoded.append(codec.encode(dict(rows[index].value), (), residual))
            if residual:
                residuals[index] = dumps_json([[path_keys(p), v] for p, v in residual])
        try:
            redone = pa.array(encoded, type=codec.arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError) as exc:
            raise ViewsError(f"cannot build the {nsid} table: {exc}") from exc
        struct = redone if struct is None else _replaced(struct, exact, redone)
    assert struct is not None  # set by the bulk path, or by the codec for every row
    columns: list[pa.Array] = [
        pa.array([row.uri for row in rows], pa.string()),
        pa.array([row.did for row in rows], pa.string()),
        pa.array([row.rkey for row in rows], pa.string()),
        pa.array([row.cid for row in rows], pa.string()),
        pa.array([commit] * len(rows), pa.string()),
        *struct.flatten(),
        pa.array(residuals, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=record_schema(nsid))


def _replaced(bulk: pa.Array, positions: Sequence[int], redone: pa.Array) -> pa.StructArray:
    """``bulk`` with the rows at ``positions`` (sorted) taken from ``redone``, in order."""
    if len(positions) == len(bulk):
        return redone
    chosen = set(positions)
    kept = [i for i in range(len(bulk)) if i not in chosen]
    combined = pa.concat_arrays([bulk.take(pa.array(kept, pa.int64())), redone])
    where = dict(zip(kept, range(len(kept)), strict=True))
    where.update(zip(positions, range(len(kept), len(combined)), strict=True))
    return combined.take(pa.array([where[i] for i in range(len(bulk))], pa.int64()))


def table_values(nsid: str, table: pa.Table) -> list[dict[str, JsonValue]]:
    """The records a table of type ``nsid`` holds, in row order, exactly as committed.

    Columns the codec does not know (a table written by a wider schema) are ignored;
    missing ones read as absent.
    """
    codec = record_codec(nsid)
    names = [name for name in codec.fields if name in table.column_names]
    has_residual = RESIDUAL_COLUMN in table.column_names
    out: list[dict[str, JsonValue]] = []
    for row in table.select([*names, *([RESIDUAL_COLUMN] if has_residual else [])]).to_pylist():
        value = codec.decode({name: row.get(name) for name in codec.fields})
        record: dict[str, JsonValue] = {} if value is MISSING else value
        if has_residual and row[RESIDUAL_COLUMN] is not None:
            for path, item in json.loads(row[RESIDUAL_COLUMN]):
                _put(record, path, item)
        out.append(record)
    return out


def _put(root: Any, path: Iterable[str | int], value: JsonValue) -> None:
    *parents, last = path
    node = root
    for key in parents:
        node = node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
