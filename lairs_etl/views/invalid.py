"""The ``invalid`` dataset: records that fail their lexicon, with every diagnostic.

Typed tables hold valid records only (an invalid one may not fit its columns at all);
the others are kept here whole, as JSON text, so dashboards can count and inspect them
and nothing committed is missing from the export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from lairs_etl.records import Diagnostic
from lairs_etl.views.codec import dumps_json
from lairs_etl.views.source import SourceRecord

__all__ = ["INVALID_DATASET", "INVALID_SCHEMA", "InvalidRecord", "invalid_table"]

INVALID_DATASET = "invalid"
_DIAGNOSTIC = pa.struct([("path", pa.string()), ("code", pa.string()), ("message", pa.string())])
INVALID_SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("did", pa.string(), nullable=False),
        pa.field("rkey", pa.string(), nullable=False),
        pa.field("cid", pa.string(), nullable=False),
        pa.field("commit", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("record_json", pa.string()),
        pa.field("diagnostics", pa.list_(_DIAGNOSTIC)),
    ]
)


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A record and why it is invalid."""

    record: SourceRecord
    diagnostics: tuple[Diagnostic, ...]


def invalid_table(rows: Sequence[InvalidRecord], commit: str) -> pa.Table:
    """The invalid records of one partition, in the order given."""
    return pa.Table.from_pylist(
        [
            {
                "uri": f"at://{r.record.did}/{r.record.collection}/{r.record.rkey}",
                "did": r.record.did,
                "rkey": r.record.rkey,
                "cid": r.record.cid,
                "commit": commit,
                "size": r.record.size,
                "record_json": None if r.record.value is None else dumps_json(r.record.value),
                "diagnostics": [
                    {"path": d.path, "code": d.code, "message": d.message} for d in r.diagnostics
                ],
            }
            for r in rows
        ],
        schema=INVALID_SCHEMA,
    )
