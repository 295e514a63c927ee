"""The ``invalid`` dataset: records that fail their lexicon, with every diagnostic.

Typed tables hold valid records only (an invalid one may not fit its columns at all);
the others are kept here whole, as JSON text, so dashboards can count and inspect them
and nothing committed is missing from the export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from lairs_etl.records import Diagnostic
from lairs_etl.views.codec import dumps_json
from lairs_etl.views.layout import INVALID_DATASET
from lairs_etl.views.source import SourceRecord
from lairs_etl.views.writer import storage_errors

__all__ = ["INVALID_DATASET", "INVALID_SCHEMA", "InvalidRecord", "invalid_table", "read_problems"]

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


def read_problems(
    url: str, storage_options: Mapping[str, object] | None = None, *, limit: int = 20
) -> tuple[list[tuple[str, str, str, str, str]], int]:
    """A sample of one ``invalid`` partition file's violations and how many there are.

    Rows are ``(uri, cid, path, code, message)``, in file order, at most ``limit``.

    Raises:
        ViewsError: the file cannot be read.
    """
    import fsspec
    import pyarrow.parquet as pq

    with storage_errors(f"cannot read {url}"):
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle, columns=["uri", "cid", "diagnostics"])
    sample: list[tuple[str, str, str, str, str]] = []
    count = 0
    for row in table.to_pylist():
        for diagnostic in row["diagnostics"] or ():
            count += 1
            if len(sample) < limit:
                sample.append(
                    (row["uri"], row["cid"], diagnostic["path"], diagnostic["code"], diagnostic["message"])
                )
    return sample, count
