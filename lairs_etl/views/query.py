"""Run SQL on the warehouse and render the result as a table, CSV, JSON Lines or Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views.warehouse import connect_warehouse

__all__ = ["FORMATS", "render", "run_query"]

FORMATS = ("table", "csv", "json", "parquet")
_MAX_CELL = 60


def run_query(
    db_path: str, sql: str, storage_options: Mapping[str, object] | None = None, *, at: str | None = None
) -> pa.Table:
    """The result of ``sql`` on the warehouse at ``db_path`` (opened read-only), at tag ``at`` if given.

    Raises:
        ViewsError: no warehouse there, no such tag, or DuckDB rejected the query.
    """
    con = connect_warehouse(db_path, storage_options, at=at)
    try:
        result = con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise ViewsError(f"query failed: {exc}") from exc
    finally:
        con.close()
    return result


def render(table: pa.Table, fmt: str) -> bytes:
    """``table`` in format ``fmt`` (one of :data:`FORMATS`).

    ``json`` is JSON Lines (one object per row: streams and appends well); ``csv`` and
    ``table`` write nested values as JSON text.

    Raises:
        ConfigError: unknown format.
    """
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()
    rows = table.to_pylist()
    if fmt == "json":
        return "".join(
            json.dumps(row, default=_json_default, ensure_ascii=False) + "\n" for row in rows
        ).encode()
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows([_cell(v) for v in row.values()] for row in rows)
        return text.getvalue().encode()
    if fmt == "table":
        return _aligned(
            table.column_names, [[_cell(v, _MAX_CELL) for v in row.values()] for row in rows]
        ).encode()
    raise ConfigError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _cell(value: object, limit: int | None = None) -> str:
    if value is None:
        text = "" if limit is None else "NULL"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=_json_default, ensure_ascii=False)
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("\n", " ") if limit is not None else text


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(_pad(h, w) for h, w in zip(header, widths, strict=True)), line]
    out.extend("  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)) for r in rows)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
