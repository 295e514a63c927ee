"""Build the Parquet lake of one revision: typed tables, exploded views, invalid records.

:func:`materialize` reads a :class:`~lairs_etl.views.source.ViewSource` actor by actor
(memory holds one actor's records at a time, plus every expression's parent for the
lineage), writes one file per (table, actor) partition (:mod:`.layout`), commits one
Iceberg snapshot per table that changed (the partitions rewritten get their new files,
the partitions the revision no longer has lose theirs: :mod:`.iceberg`), then writes
the per-actor states and the manifest. Rows are ordered by rkey and item position and
the writer has no clock, so materializing the same revision twice gives byte-identical
files with the same names, and commits nothing the second time.

One actor's failure (its records cannot be turned into rows, or the store refuses one
of its files) is reported in :attr:`MaterializeSummary.failed` and costs only that
actor: the others are written, the failed actor keeps its previous partitions, files
and commit in the manifest and in the tables (so the next stale-only run tries it
again); a file it wrote before failing is referenced by nothing and goes at the next
``lairs-etl lake expire``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

import lairs_etl
from lairs_etl.errors import ConfigError, LairsError, ViewsError, isolated
from lairs_etl.records import LEXICON_SHA256
from lairs_etl.views.catalogref import CatalogChoice
from lairs_etl.views.evolution import SchemaChange, next_version
from lairs_etl.views.invalid import INVALID_DATASET, INVALID_SCHEMA
from lairs_etl.views.journal import end_write, interrupted_writes, writing
from lairs_etl.views.lakestate import Scope, actor_commits, keep_previous, write_actor_states
from lairs_etl.views.layout import (
    ACTORS_DIR,
    MANIFEST_NAME,
    RECORDS_DATASET,
    TableKey,
    part_name,
    partition_path,
    table_name,
)
from lairs_etl.views.lineage import lake_parents, parent_chains, patched_parents, source_parents
from lairs_etl.views.manifest import ActorStats, Manifest, TableEntry, decode_manifest, encode_manifest
from lairs_etl.views.media import MEDIA_KEY
from lairs_etl.views.partition import Partition, build_partition, empty_tables, patch_partition
from lairs_etl.views.shapes import EXPRESSION_COLLECTION
from lairs_etl.views.source import PartitionPatch, SourceRecord, SourceRefs, ViewSource
from lairs_etl.views.writer import WriteOptions, parquet_bytes, replace_file, storage_errors

__all__ = ["MaterializeSummary", "materialize", "mirror_tags", "read_manifest"]

GENERATOR = f"lairs-etl {lairs_etl.__version__}"


@dataclass(frozen=True, slots=True)
class MaterializeSummary:
    """What a materialization wrote, for logs, the CLI and Dagster metadata."""

    lake_url: str
    manifest: Manifest
    actors: tuple[str, ...]
    files_written: int
    bytes_written: int
    files_removed: int
    """Files the tables' new snapshots no longer reference (on storage until ``lake expire``)."""
    schema_changes: tuple[SchemaChange, ...]
    seconds: float
    failed: tuple[tuple[str, LairsError], ...] = ()
    """Actors whose views could not be written, with why (the others were written)."""
    repaired: tuple[str, ...] = ()
    """Commits of interrupted writes this one repaired (see :mod:`.journal`)."""

    @property
    def ok(self) -> bool:
        """Whether every actor asked for was written."""
        return not self.failed

    @property
    def records(self) -> int:
        """Valid records over the whole lake."""
        return sum(s.records for s in self.manifest.stats)

    @property
    def invalid_records(self) -> int:
        """Invalid records over the whole lake."""
        return sum(s.invalid_records for s in self.manifest.stats)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the CLI and logs."""
        return {
            "lake": self.lake_url,
            "commit": self.manifest.commit,
            "lexicon_sha256": self.manifest.lexicon_sha256,
            "generator": self.manifest.generator,
            "actors": len(self.actors),
            "records": self.records,
            "invalid_records": self.invalid_records,
            "files_written": self.files_written,
            "bytes_written": self.bytes_written,
            "files_removed": self.files_removed,
            "repaired": list(self.repaired),
            "seconds": round(self.seconds, 3),
            "tables": {
                e.key.name: {"version": e.version, "rows": e.rows} for e in self.manifest.tables if e.rows
            },
            "schema_changes": [
                {
                    "table": c.table,
                    "from": c.old_version,
                    "to": c.new_version,
                    "in_place": c.in_place,
                    "reason": c.reason,
                }
                for c in self.schema_changes
            ],
            "failed": [
                {"did": did, "error_type": type(error).__name__, "error": str(error)}
                for did, error in self.failed
            ],
        }


def read_manifest(lake_url: str, storage_options: Mapping[str, object] | None = None) -> Manifest | None:
    """The manifest of the lake at ``lake_url``, or ``None`` when nothing was materialized there.

    Raises:
        ViewsError: the store cannot be read or the manifest is malformed.
    """
    fs, root = _filesystem(lake_url, storage_options)
    path = f"{root.rstrip('/')}/{MANIFEST_NAME}"
    with storage_errors(f"cannot read {lake_url}"):
        if not fs.exists(path):
            return None
        data = fs.cat_file(path)
        states = [fs.cat_file(p) for p in sorted(fs.glob(f"{root.rstrip('/')}/{ACTORS_DIR}/*.json"))]
    try:
        return decode_manifest(data, states)
    except ValueError as exc:
        raise ViewsError(f"{path}: {exc}") from exc


def materialize(
    source: ViewSource,
    lake_url: str,
    *,
    storage_options: Mapping[str, object] | None = None,
    options: WriteOptions | None = None,
    dids: Collection[str] | Mapping[str, Collection[str] | None] | None = None,
    stale_only: bool = False,
    catalog: CatalogChoice | None = None,
) -> MaterializeSummary:
    """Write the views of ``source`` under ``lake_url`` (any fsspec URL).

    ``dids`` limits the rewrite to those actors' partitions (the others, and their
    counts in the manifest, are kept); as a mapping, to the collections it names for
    each actor (``None``: all of them), which is what an incremental sync that changed
    a few collections needs. A breaking schema change rewrites every actor,
    since a new table version must be complete. ``stale_only`` (without ``dids``)
    brings a lake to ``source``'s revision at the least cost: only actors whose
    partitions were written from another commit are rewritten (every actor when one
    has left the source), and nothing at all when the lake is already there, which is
    what a warehouse refresh after per-actor partition runs needs. ``catalog`` chooses
    the Iceberg catalog the tables are registered in (default: the one the lake
    records, else its own; see :mod:`.catalogref`).

    Raises:
        ViewsError: the store refused a read or write.
        InvalidIdentifier: a DID or collection of the source is malformed.
    """
    started = time.perf_counter()
    options = options or WriteOptions()
    fs, root = _filesystem(lake_url, storage_options)
    root = root.rstrip("/")
    old = read_manifest(lake_url, storage_options)
    actors = list(source.actors())
    interrupted = interrupted_writes(fs, root)  # then the manifest may lag the tables: redo all
    if stale_only and dids is None and old is not None and set(old.actor_commits) <= set(actors):
        dids = [d for d in actors if old.actor_commits.get(d) != source.commit]
        if not dids and not interrupted and _registered(lake_url, storage_options, old, source, catalog):
            _mirror_tags(lake_url, storage_options, old, source, catalog)
            return MaterializeSummary(lake_url, old, (), 0, 0, 0, (), time.perf_counter() - started)
    versions, changes = _versions(old)
    scope = _scope(dids, full=dids is None or bool(interrupted) or any(not c.in_place for c in changes))
    chosen = sorted(set(actors) if scope.full else set(scope.actors))
    failed: dict[str, LairsError] = {}
    chains = _chains(source, fs, _current_files(root, old), scope, chosen, failed, patched=old is not None)
    carried = old is not None and not scope.full
    partitions: dict[TableKey, dict[str, int]] = {
        e.key: {d: n for d, n in e.partitions.items() if not scope.covers(d, e.key.collection)}
        for e in (old.tables if carried and old is not None else ())
    }
    names: dict[TableKey, dict[str, str]] = {
        e.key: {d: n for d, n in e.files.items() if not scope.covers(d, e.key.collection)}
        for e in (old.tables if carried and old is not None else ())
    }
    stats = [
        s for s in (old.stats if carried and old is not None else ()) if not scope.covers(s.did, s.collection)
    ]
    written: dict[str, int] = {}  # path -> bytes
    for did in chosen:
        if did in failed:
            continue

        def write_actor(did: str = did) -> tuple[list[ActorStats], dict[TableKey, tuple[int, str]]]:
            lake = _OldLake(fs, root, versions, old) if carried else None
            files, actor_stats = _actor_files(
                source,
                did,
                scope.collections(did),
                chains,
                versions,
                root,
                _file_metadata(source.commit),
                options,
                lake,
            )
            wrote: dict[TableKey, tuple[int, str]] = {}
            for path, key, rows, data in files:
                if not _holds(fs, path, len(data)):  # named by content: present means identical
                    replace_file(fs, path, data)
                    written[path] = len(data)
                wrote[key] = (rows, path.rpartition("/")[2])
            return actor_stats, wrote

        outcome = isolated(write_actor, actor=did)
        if isinstance(outcome, LairsError):
            failed[did] = outcome
            continue
        stats.extend(outcome[0])
        for key, (rows, name) in outcome[1].items():
            partitions.setdefault(key, {})[did] = rows
            names.setdefault(key, {})[did] = name
    if failed and old is not None:
        keep_previous(old, versions, set(failed), partitions, names, stats)

    done = [d for d in chosen if d not in failed]
    tables = tuple(
        TableEntry(
            key,
            versions.get(key, 1),
            schema,
            dict(sorted(partitions.get(key, {}).items())),
            dict(sorted(names.get(key, {}).items())),
        )
        for key, schema in _schemas(partitions).items()
    )
    with writing(fs, root, source.commit) as marker:
        removed = _commit_tables(
            lake_url,
            storage_options,
            root,
            tables,
            old,
            scope,
            source.commit,
            source.refs(),
            catalog,
            bool(interrupted),
        )
        manifest = Manifest(
            commit=source.commit,
            lexicon_sha256=LEXICON_SHA256,
            generator=GENERATOR,
            tables=tables,
            stats=tuple(sorted(stats, key=lambda s: (s.did, s.collection))),
            actor_commits=actor_commits(old, stats, source.commit, done, full=scope.full, failed=set(failed)),
        )
        _write_manifest(fs, root, manifest, done, full=scope.full, failed=set(failed))
    end_write(fs, [marker, *(i.path for i in interrupted)])
    with contextlib.suppress(ViewsError):  # the write landed; a tag failing waits for the next
        _mirror_tags(lake_url, storage_options, manifest, source, catalog)
    return MaterializeSummary(
        lake_url=lake_url,
        manifest=manifest,
        actors=tuple(chosen),
        files_written=len(written),
        bytes_written=sum(written.values()),
        files_removed=removed,
        schema_changes=tuple(changes),
        seconds=time.perf_counter() - started,
        failed=tuple(sorted(failed.items())),
        repaired=tuple(sorted({i.commit for i in interrupted})),
    )


def _registered(
    lake_url: str,
    storage_options: Mapping[str, object] | None,
    manifest: Manifest,
    source: ViewSource,
    choice: CatalogChoice | None,
) -> bool:
    """Whether the lake is ``source``'s and the catalog has every table of it with rows.

    A lost or new catalog has none: the write goes on and registers the files again.
    """
    if manifest.commit != source.commit:
        return False
    from lairs_etl.views.iceberg import LakeCatalog

    catalog = LakeCatalog(lake_url, storage_options, choice=choice)
    listed = catalog.listed()
    return all(table_name(e.key, e.version).casefold() in listed for e in manifest.tables if e.rows)


def _write_manifest(
    fs: fsspec.AbstractFileSystem,
    root: str,
    manifest: Manifest,
    done: list[str],
    *,
    full: bool,
    failed: set[str],
) -> None:
    """The actors' state files, then the manifest: what the lake holds, written last."""
    write_actor_states(fs, root, manifest, commit=manifest.commit, chosen=done, full=full, keep=failed)
    replace_file(fs, f"{root}/{MANIFEST_NAME}", encode_manifest(manifest))


def _file_metadata(commit: str) -> dict[str, str]:
    """Provenance in every Parquet file's key-value metadata."""
    return {
        "lairs_etl.commit": commit,
        "lairs_etl.lexicon_sha256": LEXICON_SHA256,
        "lairs_etl.generator": GENERATOR,
    }


def _commit_tables(  # noqa: PLR0917  # private: materialize()'s state, passed through
    lake_url: str,
    storage_options: Mapping[str, object] | None,
    root: str,
    tables: tuple[TableEntry, ...],
    old: Manifest | None,
    scope: Scope,
    commit: str,
    refs: SourceRefs,
    choice: CatalogChoice | None,
    force: bool,
) -> int:
    """One Iceberg commit per table whose files changed; the number of files dropped.

    A table is committed when a partition in the scope changed file (the manifest
    before and after tell), or when the catalog does not have it yet although it has
    rows (a new table, a lake from before Iceberg, a catalog that was lost). ``force``
    (after an interrupted write) commits every table whatever the manifest says: the
    commit compares with the table's own files and does nothing when they agree.
    """
    from lairs_etl.views.iceberg import LakeCatalog, casefolded, commit_properties  # pyiceberg: only to write

    catalog = LakeCatalog(lake_url, storage_options, choice=choice)
    previous = {e.key: e for e in (old.tables if old is not None else ())}
    properties = commit_properties(
        commit, {"lairs.generator": GENERATOR, "lairs.lexicon-sha256": LEXICON_SHA256}, refs.branch, refs.tags
    )
    groups: dict[str, list[TableEntry]] = {}  # the lake tables of each Iceberg table
    for entry in tables:
        groups.setdefault(table_name(entry.key, entry.version), []).append(entry)

    def unchanged(entry: TableEntry) -> bool:
        before = previous.get(entry.key)
        return (
            before is not None
            and before.version == entry.version
            and before.schema.equals(entry.schema)
            and _in_scope(before.files, entry.key, scope) == _in_scope(entry.files, entry.key, scope)
        )

    listed: frozenset[str] | None = None

    def exists(name: str) -> bool:
        # One catalog query for the run (tables this run creates are not asked about again).
        nonlocal listed
        if listed is None:
            listed = catalog.listed()
        return name.casefold() in listed

    def one(table_id: str, entries: list[TableEntry]) -> int:
        first = entries[0]
        holding = any(e.files for e in entries)
        if not force and all(unchanged(e) for e in entries) and (not holding or exists(table_id)):
            return 0
        if not holding and not exists(table_id):
            return 0
        paths = {
            (e.key.collection, did): partition_path(root, e.key, e.version, did, name)
            for e in entries
            for did, name in e.files.items()
        }
        covered = None if scope.full else (lambda slot: scope.covers(slot[1], slot[0]))
        done = catalog.commit(first.key, first.version, first.schema, paths, covered, properties)
        return done.files_removed

    # One after the other: pyiceberg's commit is Python-bound, and threads measured slower.
    removed = sum(one(table_id, entries) for table_id, entries in groups.items())
    if force:
        # An interrupted write may have created tables this lake state does not have.
        written = casefolded([*groups, table_name(MEDIA_KEY, 1)])
        for table_id in catalog.table_names():
            # The media table is written beside the record tables, never from them.
            if table_id.casefold() not in written:
                removed += catalog.empty(table_id, properties)
    return removed


def mirror_tags(
    source: ViewSource,
    lake_url: str,
    *,
    storage_options: Mapping[str, object] | None = None,
    catalog: CatalogChoice | None = None,
) -> tuple[str, ...]:
    """Make the repository's tags of ``source``'s commit Iceberg tags of the lake; those made.

    A tag names a corpus state, so its Iceberg tag is only made when every actor's
    partitions come from the tagged commit: a lake that is not there yet (a partial
    rewrite) gets it from the write that completes it. :func:`materialize` calls this
    after every write; a tag made later (``lairs-etl sync --tag``) calls it itself.

    Raises:
        ViewsError: the store or the catalog failed.
    """
    manifest = read_manifest(lake_url, storage_options)
    return () if manifest is None else _mirror_tags(lake_url, storage_options, manifest, source, catalog)


def _mirror_tags(
    lake_url: str,
    storage_options: Mapping[str, object] | None,
    manifest: Manifest,
    source: ViewSource,
    choice: CatalogChoice | None,
) -> tuple[str, ...]:
    tags = source.refs().tags
    throughout = manifest.commit == source.commit and all(
        at == source.commit for at in manifest.actor_commits.values()
    )
    if not tags or not throughout:
        return ()
    fs, root = _filesystem(lake_url, storage_options)
    if interrupted_writes(fs, root.rstrip("/")):
        return ()  # the tables may not be the manifest's: the repairing write tags them
    from lairs_etl.views.iceberg import LakeCatalog

    catalog = LakeCatalog(lake_url, storage_options, choice=choice)
    for name in tags:
        catalog.tag(name)
    return tags


def _in_scope(files: Mapping[str, str], key: TableKey, scope: Scope) -> dict[str, str]:
    return {did: name for did, name in files.items() if scope.covers(did, key.collection)}


def _holds(fs: fsspec.AbstractFileSystem, path: str, size: int) -> bool:
    """Whether ``path`` already holds a file of ``size`` bytes (same name: same content)."""
    with storage_errors(f"cannot read {path}"):
        try:
            return int(fs.size(path)) == size
        except FileNotFoundError:
            return False


def _scope(
    dids: Collection[str] | Mapping[str, Collection[str] | None] | None,
    *,
    full: bool,
) -> Scope:
    if full or dids is None:
        return Scope(full=True)
    if isinstance(dids, Mapping):
        return Scope(False, {d: None if c is None else frozenset(c) for d, c in dids.items()})
    return Scope(False, dict.fromkeys(dids))


class _OldLake:
    """The lake as it stood before this run: where a partition patch starts from."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        versions: Mapping[TableKey, int],
        manifest: Manifest | None,
    ) -> None:
        self.fs, self.root, self.versions = fs, root, versions
        self.stats = {(s.did, s.collection): s for s in (manifest.stats if manifest is not None else ())}
        self.rows = {e.key: e.partitions for e in (manifest.tables if manifest is not None else ())}
        self.files = {e.key: e.files for e in (manifest.tables if manifest is not None else ())}

    def patched(
        self,
        did: str,
        collection: str,
        patch: PartitionPatch,
        commit: str,
        chains: Mapping[str, tuple[str, ...]],
    ) -> Partition | None:
        """The partition patched from its files; None when the lake does not hold them.

        Also None when the files are of an older schema (a column added or dropped in
        place since): the partition is then rebuilt from the source's records.
        """
        old_stats = self.stats.get((did, collection))
        if old_stats is None:
            return None
        tables: list[pa.Table | None] = []
        for key in (TableKey(RECORDS_DATASET, collection), TableKey(INVALID_DATASET, collection)):
            name = self.files.get(key, {}).get(did)
            if not self.rows.get(key, {}).get(did) or name is None:
                tables.append(None)
                continue
            path = partition_path(self.root, key, self.versions.get(key, 1), did, name)
            with storage_errors(f"cannot read {path}"):
                if not self.fs.exists(path):
                    return None  # the manifest says rows, the store has no file: rebuild
                with self.fs.open(path, "rb") as handle:
                    tables.append(pq.ParquetFile(handle).read().replace_schema_metadata(None))
        try:
            return patch_partition(collection, tables[0], tables[1], old_stats, patch, commit, chains)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError):
            return None


def _actor_files(  # noqa: PLR0917  # private: the loop's state, passed through
    source: ViewSource,
    did: str,
    only: Collection[str] | None,
    chains: Mapping[str, tuple[str, ...]],
    versions: dict[TableKey, int],
    root: str,
    metadata: Mapping[str, str],
    options: WriteOptions,
    lake: _OldLake | None,
) -> tuple[list[tuple[str, TableKey, int, bytes]], list[ActorStats]]:
    """One actor's files, encoded before any is written: ``(path, table, rows, bytes)``.

    Sources yield records by collection, so one collection's records are decoded at a
    time: memory follows the largest collection, not the actor (decoded values take
    several times their encoded size; the Parquet bytes held are compressed). A
    partition the source has a patch for is patched from the lake's files instead
    (``lake``: the lake before this run, for a partial rewrite).
    """
    files: list[tuple[str, TableKey, int, bytes]] = []
    stats: list[ActorStats] = []

    def encode(part: Partition) -> None:
        # Encoded at once: Parquet bytes are a tenth of the Arrow tables they come from.
        stats.append(part.stats)
        for key, table in part.tables.items():
            tagged = {**metadata, "lairs_etl.table": key.name, "lairs_etl.did": did}
            data = parquet_bytes(table, tagged, options)
            path = partition_path(root, key, versions.setdefault(key, 1), did, part_name(data))
            files.append((path, key, table.num_rows, data))

    rest = only
    if lake is not None and only is not None:
        patched = set()
        for collection in sorted(only):
            patch = source.patch(did, collection)
            part = None if patch is None else lake.patched(did, collection, patch, source.commit, chains)
            if part is not None:
                encode(part)
                patched.add(collection)
        rest = [c for c in only if c not in patched]
    seen: set[str] = set()
    groups = itertools.groupby(source.records(did, rest) if rest is None or rest else (), key=_collection_of)
    for collection, group in groups:
        if collection in seen:
            raise ViewsError(f"the source yielded {did}'s {collection} records apart: not by collection")
        seen.add(collection)
        encode(build_partition(collection, list(group), source.commit, chains))
    return files, stats


def _chains(  # noqa: PLR0917  # private: materialize()'s state, passed through
    source: ViewSource,
    fs: fsspec.AbstractFileSystem,
    files: Mapping[TableKey, Mapping[str, str]],
    scope: Scope,
    chosen: list[str],
    failed: dict[str, LairsError],
    *,
    patched: bool,
) -> dict[str, tuple[str, ...]]:
    """Every expression's chain, its parents read where it costs least.

    From the source: the actors rewritten. From the lake as it stands: the actors not
    rewritten (a partial rewrite: no need to read them all again), a failed actor's
    (its files stay, and so must the lineage the good actors' expressions draw from
    them), a rewritten actor whose expressions are out of the rewrite's scope, and
    (``patched``) one whose expressions the source has a patch for, with it applied.
    """
    from_lake: set[str] = set()
    patches: dict[str, PartitionPatch] = {}
    if not scope.full:
        for did in chosen:
            if not scope.covers(did, EXPRESSION_COLLECTION):
                from_lake.add(did)
            elif patched and (patch := source.patch(did, EXPRESSION_COLLECTION)) is not None:
                patches[did] = patch
    parents = source_parents(source, [d for d in chosen if d not in from_lake and d not in patches], failed)
    if not scope.full:
        rewritten = set(chosen) - set(failed) - from_lake - set(patches)
        lake = lake_parents(fs, files, skip=rewritten)
        for did, patch in patches.items():
            patched_parents(lake, did, patch.removed, patch.put)
        parents = {**lake, **parents}
    elif failed:
        parents = {**lake_parents(fs, files, only=set(failed)), **parents}
    return parent_chains(parents)


def _current_files(root: str, manifest: Manifest | None) -> dict[TableKey, dict[str, str]]:
    """Each table's current file per actor, as the manifest names them."""
    return {
        e.key: {did: partition_path(root, e.key, e.version, did, name) for did, name in e.files.items()}
        for e in (manifest.tables if manifest is not None else ())
    }


def _collection_of(record: SourceRecord) -> str:
    return record.collection


def _filesystem(
    lake_url: str, storage_options: Mapping[str, object] | None
) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, root = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"cannot open lake {lake_url!r}: {exc}") from exc
    return fs, str(root)


def _schemas(partitions: Mapping[TableKey, object]) -> dict[TableKey, pa.Schema]:
    """The current schema of every table: each record type, its views, seen invalid ones."""
    schemas = {key: table.schema for key, table in empty_tables().items()}
    for key in partitions:
        if key.dataset == INVALID_DATASET:
            schemas[key] = INVALID_SCHEMA
    return dict(sorted(schemas.items()))


def _versions(old: Manifest | None) -> tuple[dict[TableKey, int], list[SchemaChange]]:
    versions: dict[TableKey, int] = {}
    changes: list[SchemaChange] = []
    known = {e.key: e for e in old.tables} if old is not None else {}
    for key, schema in _schemas(known).items():
        entry = known.get(key)
        if entry is None:
            version, change = next_version(key.name, None, None, schema)
        else:
            version, change = next_version(key.name, entry.version, entry.schema, schema)
        versions[key] = version
        if change is not None:
            changes.append(change)
    return versions, changes
