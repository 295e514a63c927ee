"""Keeping a lake's Iceberg tables: tags for corpus releases, snapshot expiry, orphan removal.

Every sync adds a snapshot per table it changed, and a rewritten partition's old file
stays on storage for the snapshots that still read it, so a lake only grows until it is
expired. :func:`expire_lake` drops the snapshots older than a cutoff that no tag holds
(each table's current snapshot always stays), then deletes the files no remaining
snapshot reaches: superseded partition files, files a failed or killed run wrote but
never committed, and Iceberg metadata no longer referenced. Only files older than the
cutoff are deleted, so a writer committing meanwhile never loses the file it is about to
register, and a reader that started on a snapshot the cutoff keeps finds its files.

:func:`tag_lake` names the tables' current snapshots, so the lake can be read as it
stood at a corpus release (``lairs-etl sql --at TAG``, or any Iceberg engine reading
the tag); with ``commit``, only when the lake was written whole from that commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import fsspec

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views.iceberg import LakeCatalog
from lairs_etl.views.materialize import read_manifest
from lairs_etl.views.writer import storage_errors

__all__ = ["ExpireSummary", "expire_lake", "tag_lake"]


def tag_lake(
    lake_url: str,
    name: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    commit: str | None = None,
) -> dict[str, int]:
    """Tag every table's current snapshot ``name``; the snapshot tagged per table.

    Raises:
        ViewsError: nothing was materialized there, or (``commit`` given) some actor's
            partitions come from another commit, so the lake is not that commit's.
        ConfigError: ``name`` is not a usable tag name.
    """
    if not name or name.strip() != name or "/" in name:
        raise ConfigError(f"not a usable tag name: {name!r}")
    manifest = read_manifest(lake_url, storage_options)
    if manifest is None:
        raise ViewsError(f"no views materialized at {lake_url}")
    if commit is not None:
        behind = sorted(did for did, at in manifest.actor_commits.items() if at != commit)
        if manifest.commit != commit or behind:
            raise ViewsError(
                f"the lake at {lake_url} is not commit {commit} throughout "
                f"(last written from {manifest.commit}; {len(behind)} actor(s) from other commits): "
                "materialize that commit first"
            )
    return LakeCatalog(lake_url, storage_options).tag(name)


@dataclass(frozen=True, slots=True)
class ExpireSummary:
    """What :func:`expire_lake` dropped."""

    snapshots_expired: int
    files_removed: int
    bytes_removed: int

    def to_json(self) -> dict[str, int]:
        """A JSON-ready form for the CLI."""
        return {
            "snapshots_expired": self.snapshots_expired,
            "files_removed": self.files_removed,
            "bytes_removed": self.bytes_removed,
        }


def expire_lake(
    lake_url: str,
    older_than: dt.datetime,
    storage_options: Mapping[str, object] | None = None,
) -> ExpireSummary:
    """Expire snapshots older than ``older_than`` and delete what nothing references (see above).

    Raises:
        ViewsError: the catalog or the store failed.
        ConfigError: ``older_than`` has no time zone.
    """
    if older_than.tzinfo is None:
        raise ConfigError("older_than needs a time zone (UTC is the usual choice)")
    catalog = LakeCatalog(lake_url, storage_options)
    fs, _ = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
    expired = removed = size = 0
    for table in catalog.all_tables():
        before = len(table.metadata.snapshots)
        table.maintenance.expire_snapshots().older_than(older_than).commit()
        table.refresh()
        expired += before - len(table.metadata.snapshots)
        kept = catalog.referenced_files(table)
        with storage_errors(f"cannot list {table.location()}"):
            present = fs.find(table.location()) if fs.exists(table.location()) else []
            for path in present:
                url = str(fs.unstrip_protocol(path))
                if url in kept or path in kept:
                    continue
                info = fs.info(path)
                if _modified(info) >= older_than:
                    continue  # perhaps a writer's, about to be committed
                fs.rm_file(path)
                removed += 1
                size += int(info.get("size") or 0)
    return ExpireSummary(expired, removed, size)


def _modified(info: Mapping[str, object]) -> dt.datetime:
    """A file's last modification time from an fsspec ``info`` (local, S3, memory spell it apart)."""
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
    return dt.datetime.now(dt.UTC)  # unknown: treat as new, never delete it
