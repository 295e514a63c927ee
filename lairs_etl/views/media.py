"""The ``media`` table: one row per blob a record references, where it is kept and whether it checked.

An Iceberg table of the lake like the others (Parquet files partitioned by actor,
registered in the lake's catalog, one snapshot per write carrying the corpus commit),
written by :func:`write_media` for the actors whose blobs were just fetched: their
partitions are replaced, the other actors' rows stay. The warehouse reads it as the
``media`` view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import fsspec
import pyarrow as pa

from lairs_etl.errors import ConfigError
from lairs_etl.views.catalogref import CatalogChoice
from lairs_etl.views.layout import TableKey, part_name, partition_path
from lairs_etl.views.writer import WriteOptions, parquet_bytes, replace_file

__all__ = ["MEDIA_KEY", "MEDIA_SCHEMA", "MEDIA_VIEW", "write_media"]

MEDIA_VIEW = "media"
#: One table for the blobs of every record type (the media lexicon's name is its home).
MEDIA_KEY = TableKey(MEDIA_VIEW, "pub.layers.media.media")
MEDIA_SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("did", pa.string(), nullable=False),
        pa.field("blob_cid", pa.string(), nullable=False),
        pa.field("mime_type", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("verified", pa.bool_(), nullable=False),
        pa.field("fetched_at", pa.timestamp("us", tz="UTC")),
        pa.field("error", pa.string()),
    ]
)


def write_media(
    lake_url: str,
    rows: Mapping[str, Sequence[Mapping[str, object]]],
    commit: str,
    *,
    storage_options: Mapping[str, object] | None = None,
    catalog: CatalogChoice | None = None,
) -> int:
    """Replace the ``media`` partitions of the actors in ``rows`` (DID → rows); the rows written.

    An actor with no rows loses its partition (its records reference no blob any more).

    Raises:
        ConfigError: the lake URL is unusable.
        ViewsError: the store or the catalog failed.
    """
    from lairs_etl.views.iceberg import LakeCatalog, commit_properties  # pyiceberg: on use

    if not rows:
        return 0
    try:
        fs, root = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"cannot open lake {lake_url!r}: {exc}") from exc
    root = str(root).rstrip("/")
    files: dict[tuple[str, str], str] = {}
    written = 0
    for did, actor_rows in sorted(rows.items()):
        if not actor_rows:
            continue
        table = pa.Table.from_pylist([dict(r) for r in actor_rows], schema=MEDIA_SCHEMA)
        data = parquet_bytes(table, {"lairs_etl.commit": commit}, WriteOptions())
        path = partition_path(root, MEDIA_KEY, 1, did, part_name(data))
        replace_file(fs, path, data)
        files[(MEDIA_KEY.collection, did)] = path
        written += table.num_rows
    lake = LakeCatalog(lake_url, storage_options, choice=catalog)
    lake.commit(
        MEDIA_KEY,
        1,
        MEDIA_SCHEMA,
        files,
        lambda slot: slot[1] in rows,
        commit_properties(commit),
    )
    return written
