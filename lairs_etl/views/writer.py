"""Parquet bytes with fixed writer settings, and whole-file replacement on any fsspec store.

Same table + same options + same metadata → same bytes (pyarrow writes no clock), so a
rebuilt lake is byte-identical. A file is replaced in one step: on a local disk the
bytes go to a hidden temporary name in the same directory and are renamed over the
target (atomic on POSIX); on object stores one PUT is atomic per object; the memory
store swaps the object whole.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from lairs_etl.errors import ConfigError, ViewsError

__all__ = [
    "NULL_COUNTS_KEY",
    "WriteOptions",
    "parquet_bytes",
    "remove_files",
    "replace_file",
    "storage_errors",
]

NULL_COUNTS_KEY = "lairs.null_counts"
"""Footer key: JSON ``{column: nulls}`` for every top-level column, from the written table.

Parquet's own statistics count nulls per leaf, which for a list or struct column mixes
null lists with null elements; the table knows each column's exactly. The Iceberg
registration turns it into ``value_counts``/``null_value_counts`` for every column
(:func:`lairs_etl.views.iceberg`), without which DuckDB 1.4's ``iceberg_scan`` prunes every
file on an ``IS [NOT] NULL`` filter (duckdb-iceberg#782, fixed after the 1.4.4
extension wheels).
"""

_COMPRESSIONS = frozenset(("zstd", "snappy", "gzip", "brotli", "lz4", "none"))


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """Parquet writer settings: zstd (level 3) and row groups of 128 Ki rows by default.

    zstd reads everywhere (DuckDB, Spark, BigQuery, Athena, Snowflake) and compresses
    repetitive annotation text well; 128 Ki rows keeps a row group near a few MB for
    typical annotation rows, good for both pruning and scan speed.
    """

    compression: str = "zstd"
    compression_level: int | None = 3
    row_group_size: int = 128 * 1024

    def __post_init__(self) -> None:
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(f"unknown compression {self.compression!r}; one of {sorted(_COMPRESSIONS)}")
        if self.row_group_size < 1:
            raise ConfigError("row_group_size must be positive")


def parquet_bytes(table: pa.Table, metadata: Mapping[str, str], options: WriteOptions) -> bytes:
    """``table`` as Parquet, with ``metadata`` added to the file's key-value metadata."""
    nulls = {name: table.column(name).null_count for name in table.column_names}
    merged = {
        **(table.schema.metadata or {}),
        **{k.encode(): v.encode() for k, v in sorted(metadata.items())},
        NULL_COUNTS_KEY.encode(): json.dumps(nulls, separators=(",", ":")).encode(),
    }
    table = table.replace_schema_metadata(merged)
    sink = io.BytesIO()
    level = options.compression_level if options.compression in ("zstd", "gzip", "brotli") else None
    pq.write_table(
        table,
        sink,
        compression=options.compression,
        compression_level=level,
        row_group_size=options.row_group_size,
        use_dictionary=True,
        write_statistics=True,
    )
    return sink.getvalue()


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn the store's ``OSError``s (fsspec's too) into :class:`ViewsError`."""
    try:
        yield
    except OSError as exc:
        raise ViewsError(f"{what}: {exc}") from exc


def replace_file(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Put ``data`` at ``path`` in one step (see the module docstring).

    Raises:
        ViewsError: the store refused the write.
    """
    with storage_errors(f"cannot write {path}"):
        parent = path.rpartition("/")[0]
        if isinstance(fs, LocalFileSystem):
            os.makedirs(parent, exist_ok=True)
            temporary = f"{parent}/.tmp-{secrets.token_hex(8)}"
            try:
                with open(temporary, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, path)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        else:
            fs.pipe_file(path, data)


def remove_files(fs: AbstractFileSystem, paths: list[str]) -> None:
    """Delete ``paths`` (already-missing ones are fine).

    Raises:
        ViewsError: the store refused a deletion.
    """
    with storage_errors("cannot remove stale view files"):
        for path in sorted(paths):
            if fs.exists(path):
                fs.rm_file(path)
