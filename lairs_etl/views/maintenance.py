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
from dataclasses import asdict, dataclass

import fsspec

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views.catalogref import CatalogChoice
from lairs_etl.views.iceberg import LakeCatalog
from lairs_etl.views.journal import interrupted_writes
from lairs_etl.views.layout import INVALID_DATASET, RECORDS_DATASET, partition_path, table_name
from lairs_etl.views.manifest import Manifest
from lairs_etl.views.materialize import read_manifest
from lairs_etl.views.shapes import EXPLODED_VIEWS, EXPRESSIONS_DATASET
from lairs_etl.views.writer import storage_errors

__all__ = ["CompactSummary", "ExpireSummary", "compact_lake", "expire_lake", "tag_lake"]

_DATASETS = tuple(
    dict.fromkeys(
        (RECORDS_DATASET, INVALID_DATASET, EXPRESSIONS_DATASET, *(v.dataset for v in EXPLODED_VIEWS))
    )
)
"""Directories of the lake's tables: expiry looks there for files of tables never created."""


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
    fs, root = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
    stopped = interrupted_writes(fs, str(root).rstrip("/"))
    if stopped:
        raise ViewsError(
            f"a write of the lake at {lake_url} (commit {stopped[0].commit or 'unknown'}) was "
            "interrupted, so its tables may not be the manifest's: materialize or sync it first"
        )
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
        return dict(asdict(self))


def expire_lake(
    lake_url: str,
    older_than: dt.datetime,
    storage_options: Mapping[str, object] | None = None,
    *,
    catalog: CatalogChoice | None = None,
) -> ExpireSummary:
    """Expire snapshots older than ``older_than`` and delete what nothing references (see above).

    ``catalog`` chooses the lake's catalog as the writers do (``None``: the recorded one).

    Raises:
        ViewsError: the catalog or the store failed.
        ConfigError: ``older_than`` has no time zone.
    """
    if older_than.tzinfo is None:
        raise ConfigError("older_than needs a time zone (UTC is the usual choice)")
    tables = LakeCatalog(lake_url, storage_options, choice=catalog)
    fs, found = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
    root = str(found).rstrip("/")
    manifest = read_manifest(lake_url, storage_options)
    # What the manifest names is never deleted, whatever the catalog says (it may be
    # another machine's, lost, or a copy's): expiry costs history, never the lake.
    kept = _manifest_files(root, manifest)
    expired = removed = size = 0
    places: list[str] = []
    registered: set[str] = set()
    for table in tables.all_tables():
        before = len(table.metadata.snapshots)
        table.maintenance.expire_snapshots().older_than(older_than).commit()
        table.refresh()
        expired += before - len(table.metadata.snapshots)
        kept |= tables.referenced_files(table)
        places.append(table.location())
        registered.add(table.name()[-1])
    if manifest is not None and _holds_every_table(manifest, registered):
        # A killed run may have written files for a table it never got to create: look
        # in every dataset's directory too, but only when this catalog is the lake's whole.
        places += [f"{root}/{dataset}" for dataset in _DATASETS]
    seen: set[str] = set()
    for place in places:
        with storage_errors(f"cannot list {place}"):
            present = fs.find(place) if fs.exists(place) else []
            for path in present:
                url = str(fs.unstrip_protocol(path))
                if path in seen or url in kept or path in kept:
                    continue
                seen.add(path)
                info = fs.info(path)
                if _modified(info) >= older_than:
                    continue  # perhaps a writer's, about to be committed
                fs.rm_file(path)
                removed += 1
                size += int(info.get("size") or 0)
    return ExpireSummary(expired, removed, size)


@dataclass(frozen=True, slots=True)
class CompactSummary:
    """What :func:`compact_lake` merged: tables, and their manifests before and after."""

    tables_compacted: int
    manifests_before: int
    manifests_after: int

    def to_json(self) -> dict[str, int]:
        """A JSON-ready form for the CLI."""
        return dict(asdict(self))


def compact_lake(
    lake_url: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    min_manifests: int = 2,
    catalog: CatalogChoice | None = None,
) -> CompactSummary:
    """Merge each table's manifests (see :meth:`LakeCatalog.compact`) so readers open few files.

    Data files need no merging: a partition (one actor's rows of one table) is one
    file, and a rewrite replaces it whole. What piles up with per-actor syncs is the
    metadata: one manifest per commit. The merged-away manifests stay for the
    snapshots that still read them until :func:`expire_lake` removes them.

    ``catalog`` chooses the lake's catalog as the writers do (``None``: the recorded one).

    Raises:
        ViewsError: the catalog or the store failed.
    """
    tables = LakeCatalog(lake_url, storage_options, choice=catalog)
    compacted = before = after = 0
    for table in tables.all_tables():
        was, now = tables.compact(table.name()[-1], min_manifests)
        compacted += was != now
        before += was
        after += now
    return CompactSummary(compacted, before, after)


def _manifest_files(root: str, manifest: Manifest | None) -> set[str]:
    """Every partition file the manifest names, as paths of the lake's filesystem."""
    if manifest is None:
        return set()
    return {
        partition_path(root, entry.key, entry.version, did, name)
        for entry in manifest.tables
        for did, name in entry.files.items()
    }


def _holds_every_table(manifest: Manifest, registered: set[str]) -> bool:
    """Whether the catalog has every table of the manifest that holds rows."""
    return all(table_name(e.key, e.version) in registered for e in manifest.tables if e.rows)


def _modified(info: Mapping[str, object]) -> dt.datetime:
    """A file's last modification time from an fsspec ``info`` (local, S3, memory spell it apart)."""
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
    return dt.datetime.now(dt.UTC)  # unknown: treat as new, never delete it
