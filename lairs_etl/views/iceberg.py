"""The lake's tables as Apache Iceberg tables, so any engine reads them as tables, not files.

lairs-etl writes each partition's Parquet file itself (deterministic bytes, named by
their hash, never overwritten) and then *registers* the files in an Iceberg table per
lake table: one commit per table and materialization, whose snapshot removes the files
of the partitions it rewrote and adds their new ones (an overwrite by file, so only the
rewritten actors' files change), with the corpus commit in the snapshot summary
(:data:`COMMIT_PROPERTY`). Readers of the previous snapshot keep reading it whole
(snapshot isolation); superseded files stay on storage until :func:`expire` drops the
snapshots that hold them and removes what no snapshot references any more.

By default the catalog is a SQL catalog (pyiceberg's ``SqlCatalog``) in a SQLite file
beside a local lake (``_lairs_catalog.sqlite``: embedded, nothing to run), in a
temporary directory for a ``memory://`` lake (which lives no longer than its process),
and for a remote lake in the user's state directory (``$LAIRS_ETL_STATE/catalogs``,
else ``$XDG_STATE_HOME/lairs-etl/catalogs`` or ``~/.local/state/lairs-etl/catalogs``),
one file per lake URL. A writer may choose another (:mod:`.catalogref`): any SQLAlchemy
URL (PostgreSQL for a lake shared by several machines) or any catalog pyiceberg is
configured with by name (REST, Glue, ...). A lost catalog costs the snapshot history,
not the lake: the next materialization registers every current file again. Table
metadata and data go through the same fsspec filesystem the lake is written with
(:class:`LakeFileIO`), so local, ``memory://`` and ``s3://`` lakes behave alike. Files
carry no Iceberg field ids: each table's name mapping (``schema.name-mapping.default``)
tells readers which column is which, as Iceberg specifies for imported files.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.utils import get_protocol
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    NotInstalledError,
    RESTError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.io import FileIO
from pyiceberg.io.fsspec import FsspecFileIO
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import CreateTableTransaction, Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.name_mapping import create_mapping_from_schema
from pyiceberg.table.update import update_table_metadata
from pyiceberg.utils.config import Config
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views.catalogref import CatalogChoice, read_choice, record_choice
from lairs_etl.views.evolution import dropped_fields
from lairs_etl.views.layout import TableKey, table_location, table_name
from lairs_etl.views.writer import NULL_COUNTS_KEY

__all__ = [
    "BRANCH_PROPERTY",
    "COMMIT_PROPERTY",
    "COMPACTED_PROPERTY",
    "TAGS_PROPERTY",
    "PARTITION_COLUMN",
    "LakeCatalog",
    "LakeFileIO",
    "TableCommit",
    "casefolded",
    "catalog_uri",
    "Slot",
    "table_location",
    "table_name",
]

PARTITION_COLUMN = "did"
"""Every lake table has the actor's DID; its files are partitioned by it (identity)."""
COMMIT_PROPERTY = "lairs.commit"
"""Snapshot-summary key of the corpus commit a snapshot's rows come from."""
BRANCH_PROPERTY = "lairs.branch"
"""Snapshot-summary key of the repository branch the commit was read from."""
TAGS_PROPERTY = "lairs.tags"
"""Snapshot-summary key of the repository tags naming the commit when it was written."""
COMPACTED_PROPERTY = "lairs.compacted"
"""Snapshot-summary key of a maintenance snapshot that changed metadata, not rows."""
_METRICS = {
    "write.metadata.metrics.default": "none",
    f"write.metadata.metrics.column.{PARTITION_COLUMN}": "full",
}
"""Per-file column statistics in the manifests: the partition column's only.

Readers decode every file's statistics on every query (DuckDB's ``iceberg_scan``: 0.15 ms
a file with pyiceberg's default ``truncate(16)`` on ~150 columns, 0.01 ms without), and
a file is one actor's rows, whose min/max over other columns rarely exclude it. The
``did`` bounds stay: they give the partition value and prune ``did = …`` filters.
"""
AUTO_COMPACT_MANIFESTS = 16
"""A commit leaving a table with more manifests than this merges them (see :meth:`LakeCatalog.compact`)."""
_MERGE_COUNT = "commit.manifest.min-count-to-merge"
_MERGE_ENABLED = "commit.manifest-merge.enabled"
CATALOG_FILE = "_lairs_catalog.sqlite"
_SCHEMA_PROPERTY = "lairs.arrow-schema-sha256"
_OPTIONS_PROPERTY = "lairs.storage-options"
_ATTEMPTS = 8
_OPTIONS: dict[str, Mapping[str, Any]] = {}
"""Storage options by token: the FileIO is built by pyiceberg from string properties."""


_R = TypeVar("_R")
Slot = tuple[str, str]
"""A partition of a lake table: ``(collection, did)``."""


def _slot(data: DataFile) -> Slot:
    """The partition a registered file belongs to: its path's ``collection=`` and its ``did``."""
    parts = data.file_path.split("/")
    collection = next((p.removeprefix("collection=") for p in parts if p.startswith("collection=")), "")
    return collection, str(data.partition[0])


def catalog_uri(lake_url: str) -> str:
    """The default catalog of a lake (see the module docstring) as a SQLAlchemy URL."""
    protocol = get_protocol(lake_url)
    if protocol in ("file", "local"):
        root = os.path.abspath(lake_url.removeprefix("file://").removeprefix("local://"))
        return f"sqlite:///{root}/{CATALOG_FILE}"
    digest = hashlib.sha256(lake_url.rstrip("/").encode()).hexdigest()[:24]
    folder = _memory_catalogs() if protocol == "memory" else _state_dir() / "catalogs"
    return f"sqlite:///{folder}/{digest}.sqlite"


def _state_dir() -> Path:
    """``$LAIRS_ETL_STATE``, else ``$XDG_STATE_HOME/lairs-etl``, else ``~/.local/state/lairs-etl``."""
    if os.environ.get("LAIRS_ETL_STATE"):
        return Path(os.environ["LAIRS_ETL_STATE"])
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "lairs-etl"


@cache
def _memory_catalogs() -> Path:
    """This process's folder of ``memory://`` lakes' catalogs, removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix="lairs-memory-catalogs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class LakeFileIO(FsspecFileIO):
    """pyiceberg's fsspec FileIO, on the filesystem (and options) the lake is written with."""

    def _get_fs(self, scheme: str, hostname: str | None = None) -> fsspec.AbstractFileSystem:
        options = dict(_OPTIONS.get(str(self.properties.get(_OPTIONS_PROPERTY, "")), {}))
        if scheme in ("", "file", "local"):
            return fsspec.filesystem("file", auto_mkdir=True)  # metadata/ is made on first write
        return fsspec.filesystem(scheme, **options)


_FILE_IO = f"{LakeFileIO.__module__}.{LakeFileIO.__qualname__}"
_CATALOGS: dict[tuple[str, str, str, str], tuple[Catalog, tuple[int, int] | None]] = {}
_TABLES: dict[tuple[str, str, str, str], Table] = {}
"""Tables as this process last committed them (catalog, namespace, lake, name), reused by the next commit."""
_CATALOGS_LOCK = threading.Lock()


def _open_catalog(spec: str, namespace: str, location: str, token: str) -> Catalog:
    """The process's catalog object for ``spec`` (one SQLAlchemy engine per catalog, reused).

    A SQLite file that was deleted or replaced since (its lake directory removed, copied
    over) is opened anew: a connection to the old file would write nowhere, or fail.
    """
    path = Path(spec.removeprefix("sqlite:///")) if spec.startswith("sqlite:///") else None
    key = (spec, namespace, location, token)
    with _CATALOGS_LOCK:
        cached = _CATALOGS.get(key)
        if cached is not None and cached[1] == _identity(path):
            return cached[0]
        if cached is not None:
            _TABLES.clear()  # tables loaded through the old file
            if isinstance(cached[0], SqlCatalog):
                cached[0].engine.dispose()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        with _iceberg_errors(f"cannot open the catalog {spec}"):
            build = functools.partial(_new_catalog, spec, namespace, location, token)
            # A SQLAlchemy URL (ours, a file) on its own stack; a catalog named in pyiceberg's
            # configuration may be an in-memory SQLite one, which SQLAlchemy keeps per thread.
            catalog = _on_own_stack(build) if "://" in spec else build()
        _CATALOGS[key] = (catalog, _identity(path))
        return catalog


def _new_catalog(spec: str, namespace: str, location: str, token: str) -> Catalog:
    """A catalog object for ``spec``, its namespace created when missing."""
    for attempt in range(_ATTEMPTS):
        try:
            properties = {"py-io-impl": _FILE_IO, _OPTIONS_PROPERTY: token}
            if "://" in spec:
                catalog: Catalog = _sql_catalog(spec, location, properties)
            else:
                catalog = _named_catalog(spec, properties)
            catalog.create_namespace_if_not_exists(namespace)
            return catalog
        except (NamespaceAlreadyExistsError, IntegrityError, OperationalError):
            # Another process created the catalog's tables or namespace between
            # pyiceberg's check and its insert (or held the lock): look again.
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _on_own_stack(work: Callable[[], _R]) -> _R:
    """``work()`` on a thread of its own, so garbage cycles it leaves hold none of the caller's frames.

    pyiceberg probes a new SQL catalog's tables by catching the error of a ``SELECT``,
    and SQLAlchemy's error handling leaves exceptions and frames referring to each
    other. Every frame keeps its caller's, so the cycle held the whole stack above it:
    with the collector paused for a sync (:func:`lairs_etl.atproto.cbor.paused_gc`),
    a first sync into a new lake kept every record it had staged (83 MB of 100,000)
    until the next full collection, in a CLI or Dagster run its end. A daemon thread,
    joined: an interrupt while a catalog is slow to answer is not held up by it.
    """
    outcome: list[_R] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="lairs-catalog", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure.pop()
    return outcome[0]


def _named_catalog(name: str, properties: Mapping[str, str]) -> Catalog:
    """The catalog pyiceberg's configuration names ``name`` (read now, not at import).

    Its own FileIO settings win; without any, it reads and writes through the lake's.

    Raises:
        ConfigError: no such catalog, or pyiceberg cannot build it from its settings.
    """
    conf = Config().get_catalog_config(name)
    if not conf:
        raise ConfigError(
            f"no Iceberg catalog named {name!r}: configure it in ~/.pyiceberg.yaml "
            f"or PYICEBERG_CATALOG__{name.upper()}__* variables (or give a SQLAlchemy URL)"
        )
    settings = {**conf, **properties} if "py-io-impl" not in conf else {**properties, **conf}
    try:
        return load_catalog(name, **settings)  # type: ignore[arg-type]  # nested settings are allowed
    except Exception as exc:  # any backend's (botocore, strictyaml, drivers): the boundary
        raise ConfigError(f"cannot build the Iceberg catalog {name!r}: {type(exc).__name__}: {exc}") from exc


def _sql_catalog(uri: str, location: str, properties: Mapping[str, str]) -> SqlCatalog:
    """The SQL catalog at ``uri``; a missing database driver is a :class:`ConfigError`.

    On a new database pyiceberg creates its tables when it finds none. Two processes
    doing so at once collide in PostgreSQL (``DuplicateObject``/``UniqueViolation`` on
    the table's type: seen in the two-writer test): the loser opens it again and then
    finds the winner's tables.
    """
    for attempt in range(_ATTEMPTS):
        try:
            return SqlCatalog("lairs", uri=uri, warehouse=location, **properties)
        except (ImportError, NotInstalledError) as exc:
            raise ConfigError(f"cannot open the catalog at {uri}: install its driver ({exc})") from exc
        except (ProgrammingError, IntegrityError):
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _identity(path: Path | None) -> tuple[int, int] | None:
    """Which file ``path`` is (device and inode), ``None`` for none or a server database."""
    if path is None:
        return None
    try:
        found = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (found.st_dev, found.st_ino)


@dataclass(frozen=True, slots=True)
class TableCommit:
    """What one table's commit changed (nothing committed when both counts are 0)."""

    name: str
    files_added: int
    files_removed: int
    snapshot_id: int | None


class LakeCatalog:
    """The Iceberg catalog of one lake (see the module docstring)."""

    def __init__(
        self,
        lake_url: str,
        storage_options: Mapping[str, object] | None = None,
        *,
        choice: CatalogChoice | None = None,
    ) -> None:
        """Open the catalog ``choice`` names, else the one recorded in the lake.

        A ``choice`` other than the recorded one is recorded first (see
        :mod:`.catalogref`): this lake's tables are registered there from now on.

        Raises:
            ConfigError: the lake URL or the catalog's configuration is unusable.
            ViewsError: the store or the catalog failed.
        """
        self.lake_url = lake_url.rstrip("/")
        try:
            self._fs, root = fsspec.core.url_to_fs(lake_url, **dict(storage_options or {}))
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"cannot open lake {lake_url!r}: {exc}") from exc
        root = str(root).rstrip("/")
        recorded = read_choice(self._fs, root)
        self.choice = choice or recorded
        self.namespace = self.choice.namespace
        self.uri = self.choice.catalog or catalog_uri(lake_url)
        self.location = self._fs.unstrip_protocol(root)
        options = dict(storage_options or {})
        token = hashlib.sha256(json.dumps(options, sort_keys=True, default=repr).encode()).hexdigest()[:16]
        _OPTIONS[token] = options
        self._catalog = _open_catalog(self.uri, self.namespace, self.location, token)
        self._io = LakeFileIO({_OPTIONS_PROPERTY: token})
        if self.choice != recorded:
            self.all_tables()  # refuses a namespace that holds another lake's tables
            record_choice(self._fs, root, self.choice)

    def url(self, path: str) -> str:
        """A path of the lake's filesystem as the URL Iceberg metadata records (URLs as they are)."""
        return path if "://" in path else str(self._fs.unstrip_protocol(path))

    def load(self, key: TableKey, version: int) -> Table | None:
        """The table, or ``None`` when it was never committed, its metadata is gone, or it is elsewhere.

        A lake directory copied or moved keeps a catalog whose tables live at the old
        place; they are dropped from this catalog (history lost, as with a lost catalog)
        and the next materialization registers this lake's current files. A chosen
        catalog is shared: a table there of another lake is that lake's, never dropped.

        Raises:
            ConfigError: the chosen catalog's namespace holds another lake's table.
        """
        return self._load(table_name(key, version))

    def _load(self, table_id: str) -> Table | None:
        name = (self.namespace, table_id)
        with _iceberg_errors(f"cannot load {table_id}"):
            try:
                table = self._catalog.load_table(name)
            except NoSuchTableError:
                return None
            except FileNotFoundError as exc:
                if self.choice.catalog is not None:
                    # A shared catalog: the metadata may be another host's or another
                    # lake's, which this one cannot see. Never drop what may be theirs.
                    raise ViewsError(
                        f"{self.namespace}.{table_id} in the catalog {self.choice.catalog} names metadata "
                        f"this lake cannot read ({exc}): another lake's (give this one another "
                        "namespace), or this lake's, deleted (drop the table from the catalog)"
                    ) from exc
                # The catalog outlived its lake (a wiped directory, a new memory:// store).
                self._catalog.drop_table(name)
                return None
            if not table.location().startswith(self.location + "/"):
                if self.choice.catalog is not None:
                    raise ConfigError(
                        f"{self.namespace}.{table_id} in the catalog {self.choice.catalog} belongs to "
                        f"the lake at {table.location()}: give this lake another catalog namespace"
                    )
                # A copied or moved lake: its catalog still names the original's metadata
                # (Iceberg paths are absolute). Never read or write there: start anew.
                self._catalog.drop_table(name)
                return None
            return table

    def tag(self, name: str) -> dict[str, int]:
        """Tag every table's current snapshot ``name``; the snapshot tagged per table.

        Tagging the same snapshots again is a no-op; a tag that names other snapshots
        is moved (the caller checks that the lake is at the state the tag names).

        Raises:
            ViewsError: the catalog or the store failed, or commits kept conflicting.
        """
        tagged: dict[str, int] = {}

        def tag_one(table: Table) -> int | None:
            snapshot = table.current_snapshot()
            if snapshot is None:
                return None
            ref = table.metadata.refs.get(name)
            if ref is None or ref.snapshot_id != snapshot.snapshot_id:
                update = table.manage_snapshots()
                if ref is not None:
                    update = update.remove_tag(name)
                update.create_tag(snapshot.snapshot_id, name).commit()
            return snapshot.snapshot_id

        for table_id in self._table_names():
            snapshot_id = self._update(table_id, "tag", tag_one, None)
            if snapshot_id is not None:
                tagged[table_id] = snapshot_id
        return tagged

    def compact(self, table_id: str, min_manifests: int = 2) -> tuple[int, int]:
        """Merge the manifests of ``table_id``'s current snapshot; ``(before, after)`` counts.

        Each commit adds a manifest for the files it registered, so a table rewritten
        actor by actor accumulates one per sync, and every reader (``iceberg_scan``,
        Spark, Trino) opens them all before reading a row. The merge is a snapshot of
        its own (operation ``append``, no file added or removed, the current snapshot's
        ``lairs.*`` summary kept): readers of earlier snapshots keep theirs, and a
        concurrent writer's commit is retried on top. Nothing is committed when the
        snapshot has fewer than ``min_manifests``.

        Raises:
            ViewsError: the catalog or the store failed, or commits kept conflicting.
        """

        def merge(table: Table) -> tuple[int, int]:
            snapshot = table.current_snapshot()
            before = 0 if snapshot is None else len(snapshot.manifests(table.io))
            if snapshot is None or before < max(min_manifests, 2):
                return (before, before)
            summary = snapshot.summary
            kept = {
                k: v
                for k, v in (summary.additional_properties if summary is not None else {}).items()
                if k.startswith("lairs.")
            }
            tx = _Transaction(table)
            tx.set_properties({_MERGE_COUNT: "2", _MERGE_ENABLED: "true"})  # read when the merge starts
            properties = {**kept, COMPACTED_PROPERTY: "manifests"}
            with tx.update_snapshot(snapshot_properties=properties).merge_append():
                pass  # nothing appended: the merge of the existing manifests is the change
            tx.remove_properties(_MERGE_COUNT, _MERGE_ENABLED)
            merged = tx.commit_transaction().current_snapshot()
            return (before, 0 if merged is None else len(merged.manifests(table.io)))

        return self._update(table_id, "compact", merge, (0, 0))

    def _compact_if_piled_up(self, table: Table, name: str) -> None:
        """Merge the table's manifests once commits have piled up :data:`AUTO_COMPACT_MANIFESTS`.

        Every overwrite adds a manifest (and pyiceberg's keeps those that only record
        earlier deletions), which every query then opens: 0.6 ms each in ``iceberg_scan``.
        Merging at a threshold costs one extra commit every so many, never a rewrite of
        the whole manifest on each one.
        """
        snapshot = table.current_snapshot()
        # Best effort: the data commit has landed; a merge that fails is tried after the next.
        with contextlib.suppress(ViewsError), _iceberg_errors(f"cannot compact {name}"):
            if snapshot is not None and len(snapshot.manifests(table.io)) > AUTO_COMPACT_MANIFESTS:
                self.compact(name)

    def snapshot_at(self, key: TableKey, version: int, tag: str | None) -> tuple[str, int | None] | None:
        """``(metadata location, snapshot id)`` to read a table at ``tag`` (``None``: current).

        ``None`` when the table did not exist then (or has no snapshot): it was empty.
        """
        table = self.load(key, version)
        if table is None:
            return None
        if tag is None:
            snapshot = table.current_snapshot()
            return None if snapshot is None else (table.metadata_location, snapshot.snapshot_id)
        ref = table.metadata.refs.get(tag)
        return None if ref is None else (table.metadata_location, ref.snapshot_id)

    def tags(self) -> dict[str, dict[str, int]]:
        """Every tag of any table: tag → table name → snapshot id."""
        found: dict[str, dict[str, int]] = {}
        for table in self.all_tables():
            table_id = table.name()[-1]
            for ref_name, ref in table.metadata.refs.items():
                if ref.snapshot_ref_type.value == "tag":
                    found.setdefault(ref_name, {})[table_id] = ref.snapshot_id
        return found

    def table_names(self) -> list[str]:
        """The names of the lake's tables in the catalog, sorted."""
        return self._table_names()

    def listed(self) -> frozenset[str]:
        """The lake's table names in one catalog query, case-folded: compare ``name.casefold()``.

        Glue and Hive store table names lower-cased; one query answers a whole write's
        "is it there?" questions (a ``table_exists`` per table reads its metadata).
        """
        return casefolded(self._table_names())

    def empty(self, table_id: str, properties: Mapping[str, str]) -> int:
        """Remove every file from ``table_id``'s next snapshot; the number removed.

        For a table the lake's current state does not have (one an interrupted write
        created): readers of its earlier snapshots keep them.

        Raises:
            ViewsError: the catalog or the store failed, or commits kept conflicting.
        """

        def remove_all(table: Table) -> int:
            current = [task.file for task in table.scan().plan_files()]
            if current:
                tx = _Transaction(table)
                with tx.update_snapshot(snapshot_properties=dict(properties)).overwrite() as overwrite:
                    for data in current:
                        overwrite.delete_data_file(data)
                tx.commit_transaction()
            return len(current)

        return self._update(table_id, "empty", remove_all, 0)

    def _update(self, table_id: str, what: str, change: Callable[[Table], _R], missing: _R) -> _R:
        """``change`` applied to the table as the catalog has it, retried on a concurrent commit.

        ``missing`` when the table is not there (any more). The table object this process
        cached for its next commit is dropped: ``change`` may have committed past it.

        Raises:
            ViewsError: the catalog or the store failed, or commits kept conflicting.
        """
        for _ in range(_ATTEMPTS):
            table = self._load(table_id)
            if table is None:
                return missing
            with _iceberg_errors(f"cannot {what} {table_id}"):
                try:
                    done = change(table)
                except (CommitFailedException, OperationalError):
                    continue  # another writer committed first: load theirs and go again
            _TABLES.pop((self.uri, self.namespace, self.location, table_id), None)
            return done
        raise ViewsError(f"cannot {what} {table_id}: {_ATTEMPTS} attempts conflicted with other writers")

    def all_tables(self) -> list[Table]:
        """Every table of the catalog (whose metadata is still there)."""
        return [table for table_id in self._table_names() if (table := self._load(table_id)) is not None]

    def referenced_files(self, table: Table) -> set[str]:
        """Every file some snapshot of ``table`` (or its metadata log) still needs, as URLs."""
        keep = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
        with _iceberg_errors(f"cannot read {table.name()}"):
            for snapshot in table.metadata.snapshots:
                keep.add(snapshot.manifest_list)
                for manifest in snapshot.manifests(table.io):
                    keep.add(manifest.manifest_path)
                    keep.update(
                        entry.data_file.file_path
                        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
                    )
        return keep

    def _table_names(self) -> list[str]:
        with _iceberg_errors("cannot list the catalog"):
            return sorted(name for *_, name in self._catalog.list_tables(self.namespace))

    def commit(  # noqa: PLR0917  # one table's desired state, in full
        self,
        key: TableKey,
        version: int,
        schema: pa.Schema,
        files: Mapping[Slot, str],
        covered: Callable[[Slot], bool] | None,
        properties: Mapping[str, str],
    ) -> TableCommit:
        """Make the table's files of the ``covered`` partitions exactly ``files``, in one snapshot.

        ``files`` maps ``(collection, did)`` partitions to their file; ``key`` is any lake
        table of the Iceberg table. ``covered`` ``None`` means every partition (a full
        rewrite). A table committed for the first time (or whose metadata was lost)
        registers every file of ``files``.
        A concurrent writer's commit is retried on top of it (optimistic concurrency);
        the other actors' files stay as that writer left them.

        Raises:
            ViewsError: the catalog or the store failed, or the commit kept conflicting.
        """
        name = table_name(key, version)
        cache_key = (self.uri, self.namespace, self.location, name)
        for attempt in range(_ATTEMPTS):
            # This process's last commit left the table object current, unless another
            # writer committed since: then the catalog refuses the commit and the next
            # attempt starts from a fresh load.
            cached = _TABLES.pop(cache_key, None) if attempt == 0 else None
            table = cached or self.load(key, version)
            if table is None:
                created = self._create(key, version, schema, files, properties)
                if created is not None:
                    return created
                continue  # created by someone else meanwhile: load theirs
            fresh = table.current_snapshot() is None
            with _iceberg_errors(f"cannot commit {name}"):
                try:
                    scope = None if fresh else covered
                    done = self._commit_once(table, name, schema, files, scope, properties)
                except (CommitFailedException, ValidationException, OperationalError):
                    continue  # another writer committed first: recompute on top of theirs
                except FileNotFoundError:
                    if cached is None:
                        raise
                    continue  # the lake was deleted under the cached table: load it anew
            _TABLES[cache_key] = table
            if done.snapshot_id is not None:
                self._compact_if_piled_up(table, name)
            return done
        raise ViewsError(f"cannot commit {name}: {_ATTEMPTS} attempts conflicted with other writers")

    def _commit_once(  # noqa: PLR0917
        self,
        table: Table,
        name: str,
        schema: pa.Schema,
        files: Mapping[Slot, str],
        covered: Callable[[Slot], bool] | None,
        properties: Mapping[str, str],
    ) -> TableCommit:
        wanted = {self.url(path) for slot, path in files.items() if covered is None or covered(slot)}
        current = {task.file.file_path: task.file for task in table.scan().plan_files()}
        removed = [
            data
            for path, data in current.items()
            if path not in wanted and (covered is None or covered(_slot(data)))
        ]
        added = [path for path in wanted if path not in current]
        evolve = table.properties.get(_SCHEMA_PROPERTY) != _fingerprint(schema)
        if not removed and not added and not evolve:
            return TableCommit(name, 0, 0, None)
        tx = _Transaction(table)
        recounted: list[DataFile] = []
        if evolve:
            before = {field.field_id for field in table.schema().fields}
            _evolve(tx, schema)
            if {field.field_id for field in tx.table_metadata.schema().fields} - before:
                # Kept files' entries have no counts for the new columns: re-registered.
                gone = {data.file_path for data in removed}
                recounted = [data for path, data in current.items() if path not in gone]
        if any(table.properties.get(k) != v for k, v in _METRICS.items()):
            tx.set_properties(_METRICS)  # a table from before the setting: from this commit on
        if removed or added or recounted:
            with tx.update_snapshot(snapshot_properties=dict(properties)).overwrite() as overwrite:
                for data in [*removed, *recounted]:
                    overwrite.delete_data_file(data)
                fresh = sorted(added) + [data.file_path for data in recounted]
                for entry in _data_files(table.io, tx.table_metadata, fresh):
                    overwrite.append_data_file(entry)
        committed = tx.commit_transaction()
        snapshot = committed.current_snapshot()
        return TableCommit(name, len(added), len(removed), None if snapshot is None else snapshot.snapshot_id)

    def _create(
        self,
        key: TableKey,
        version: int,
        schema: pa.Schema,
        files: Mapping[Slot, str],
        properties: Mapping[str, str],
    ) -> TableCommit | None:
        """Create the table with ``files`` as its first snapshot, in one catalog commit.

        ``None`` when another writer created it first (the caller loads theirs).
        """
        name = table_name(key, version)
        location = table_location(self.location, key, version)
        with _iceberg_errors(f"cannot create {name}"):
            try:
                created = self._catalog.create_table_transaction(
                    (self.namespace, name), schema=schema, location=location
                )
                created.__class__ = _CreateTransaction  # the catalog makes it; only the property differs
                tx = cast(_CreateTransaction, created)
            except TableAlreadyExistsError:
                return None
            with tx.update_spec() as spec:
                spec.add_identity(PARTITION_COLUMN)
            tx.set_properties({"write.parquet.compression-codec": "zstd", **_METRICS})
            _describe_schema(tx, schema, tx.created_schema)
            paths = sorted({self.url(path) for path in files.values()})
            if paths:
                metadata = tx.table_metadata
                data = _data_files(self._io, metadata, paths)
                with tx.update_snapshot(snapshot_properties=dict(properties)).fast_append() as append:
                    for entry in data:
                        append.append_data_file(entry)
            try:
                tx.commit_transaction()
            except (TableAlreadyExistsError, CommitFailedException):
                return None
        return TableCommit(name, len(paths), 0, None)


class _CachedMetadata:
    """Staged metadata computed once per change, not once per read.

    pyiceberg recomputes (and deep-copies) a transaction's staged metadata on every read
    of ``table_metadata``, which its snapshot producers read a dozen times per commit;
    for the lake's wide schemas that was most of a commit's time (85 ms of a table's
    commit, measured). The staged metadata only changes when an update is staged (the
    updates tuple is replaced), so it is cached by the updates it was computed from.
    """

    _updates: tuple[Any, ...]
    _table: Table
    _cached: tuple[tuple[Any, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        updates = self._updates
        if self._cached is None or self._cached[0] is not updates:
            self._cached = (updates, update_table_metadata(self._table.metadata, updates))
        return self._cached[1]


class _Transaction(_CachedMetadata, Transaction):
    """A table transaction with :class:`_CachedMetadata`."""


class _CreateTransaction(_CachedMetadata, CreateTableTransaction):
    """A create-table transaction with :class:`_CachedMetadata` (the catalog builds it)."""

    @property
    def created_schema(self) -> Schema:
        """The schema the table is created with (fresh ids), without staging the metadata again."""
        return self._table.metadata.schema()


def _evolve(tx: Transaction, schema: pa.Schema) -> None:
    """Stage the table's schema becoming ``schema`` by Iceberg's rules (see :mod:`.evolution`).

    New columns and fields are added and widened types promoted (``union_by_name``);
    columns and fields ``schema`` no longer has are dropped. Files keep what they hold:
    readers know columns by id, so a dropped column is skipped in old files.
    """
    current = tx.table_metadata.schema().as_arrow()
    dropped = dropped_fields(current, schema)
    with tx.update_schema() as update:
        update.union_by_name(schema)
        for path in dropped:
            update.delete_column(path)
    _describe_schema(tx, schema)


def _fingerprint(schema: pa.Schema) -> str:
    return hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()


def _describe_schema(tx: Transaction, schema: pa.Schema, staged: Schema | None = None) -> None:
    """Stage the name mapping of the table's (staged) schema and the Arrow schema it came from.

    Files carry no field ids: the mapping tells readers which column is which, and the
    fingerprint tells the next commit whether the schema must evolve first.
    """
    mapping = create_mapping_from_schema(staged or tx.table_metadata.schema())
    tx.set_properties(
        {"schema.name-mapping.default": mapping.model_dump_json(), _SCHEMA_PROPERTY: _fingerprint(schema)}
    )


def commit_properties(
    commit: str,
    extra: Mapping[str, str] | None = None,
    branch: str | None = None,
    tags: Sequence[str] = (),
) -> dict[str, str]:
    """The snapshot-summary properties of a lake update from the corpus ``commit``.

    The repository branch it was read from and its tags (comma-separated) ride along,
    so an engine listing snapshots sees which corpus state each one is.
    """
    named = {BRANCH_PROPERTY: branch} if branch else {}
    if tags:
        named[TAGS_PROPERTY] = ",".join(tags)
    return {COMMIT_PROPERTY: commit, **named, **dict(extra or {})}


def _data_files(io: FileIO, metadata: TableMetadata, paths: Sequence[str]) -> list[DataFile]:
    """The Iceberg entries of partition files of one table (see :func:`_data_file`).

    The statistics plan and column mapping of the table's schema are derived once for
    all the files: per file they were half of a wide table's registration (measured).
    """
    plan = _StatisticsPlan.of(metadata)
    return [_data_file(io, metadata, path, plan) for path in paths]


@dataclass(frozen=True, slots=True)
class _StatisticsPlan:
    """What a table's schema says about collecting its files' statistics."""

    schema: Schema
    columns: Any  # pyiceberg's statistics plan per field id
    mapping: dict[str, int]

    @classmethod
    def of(cls, metadata: TableMetadata) -> _StatisticsPlan:
        schema = metadata.schema()
        columns = compute_statistics_plan(schema, metadata.properties)
        return cls(schema, columns, parquet_path_to_id_mapping(schema))


def _data_file(
    io: FileIO, metadata: TableMetadata, path: str, plan: _StatisticsPlan | None = None
) -> DataFile:
    """The Iceberg entry of a partition file: its size, row count, column statistics, partition.

    pyiceberg's ``parquet_file_to_data_file`` also re-derives the file's whole schema to
    check it against the table's, which for the lake's wide tables was a fifth of a
    commit; the file was written from the table's own Arrow schema (and the commit
    evolves the table first when that schema changed), so the check is skipped.
    """
    source = io.new_input(path)
    with source.open() as stream:
        footer = pq.read_metadata(stream)
    plan = plan or _StatisticsPlan.of(metadata)
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer, stats_columns=plan.columns, parquet_column_mapping=plan.mapping
    )
    serialized = statistics.to_serialized_dict()
    serialized.pop("column_sizes", None)  # optional, unused by planners, decoded by every reader
    values, nulls = _column_counts(footer, plan)
    serialized["value_counts"] = {**values, **serialized.get("value_counts", {})}
    serialized["null_value_counts"] = {**nulls, **serialized.get("null_value_counts", {})}
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=statistics.partition(metadata.spec(), plan.schema),
        file_size_in_bytes=len(source),
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **serialized,
    )


def _column_counts(footer: pq.FileMetaData, plan: _StatisticsPlan) -> tuple[dict[int, int], dict[int, int]]:
    """Value and null counts of every top-level column of the table, by field id.

    The lake's tables keep bounds for ``did`` only (``write.metadata.metrics.default:
    none``: every query decodes what a file's entry holds), but DuckDB 1.4's
    ``iceberg_scan`` skips every file on ``IS NULL``/``IS NOT NULL`` of a column without
    counts (duckdb-iceberg#782); both are needed (with null counts alone ``IS NOT NULL``
    still skipped them, tried). Counts come from the footer's
    :data:`~lairs_etl.views.writer.NULL_COUNTS_KEY`; a column the table has and the file
    does not (added since the file was written) reads as all null. Files written before
    the footer carried the key get none.
    """
    raw = (footer.metadata or {}).get(NULL_COUNTS_KEY.encode())
    if raw is None:
        return {}, {}
    in_file: dict[str, int] = json.loads(raw)
    rows = footer.num_rows
    values = {field.field_id: rows for field in plan.schema.fields}
    nulls = {field.field_id: int(in_file.get(field.name, rows)) for field in plan.schema.fields}
    return values, nulls


@contextmanager
def _iceberg_errors(what: str) -> Iterator[None]:
    """pyiceberg's, SQLAlchemy's and the store's errors as :class:`ViewsError`."""
    try:
        yield
    except (ViewsError, ConfigError):
        raise
    except (
        OSError,
        ValueError,
        NoSuchTableError,
        NoSuchNamespaceError,
        CommitFailedException,
        SQLAlchemyError,
        RESTError,
    ) as exc:
        raise ViewsError(f"{what}: {exc}") from exc


def casefolded(names: Iterable[str]) -> frozenset[str]:
    """Table names as a catalog compares them (see :meth:`LakeCatalog.listed`)."""
    return frozenset(name.casefold() for name in names)
