"""The content-addressed corpus repository: storage, packs, refs, commits, fsck and gc.

Layers, bottom up: :mod:`.storage` (fsspec, the only module that knows paths) →
:mod:`.layout` (keys, format marker) → :mod:`.packs` / :mod:`.packindex` /
:mod:`.packset` (blocks in packs, found through index segments) → :mod:`.refs`
(branches and tags, moved by compare-and-swap) → :mod:`.objects` (commit and actor map
blocks) → :mod:`.fsck` / :mod:`.gc`; on top, the :class:`Repository` facade (stage,
commit, tag, log, diff, read at a revision) and :mod:`.pull` (imported on its own: it
brings in the fetch layer).
"""

from lairs_etl.repo.changes import ChangeCounts, RecordChange, summarize
from lairs_etl.repo.fsck import FsckReport, dag_cbor_links, fsck_packs, fsck_refs
from lairs_etl.repo.gc import GcReport, collect_garbage
from lairs_etl.repo.layout import check_ref_name, init_layout, read_layout
from lairs_etl.repo.objects import (
    ActorState,
    CollectionState,
    Commit,
    build_actor_map,
    lookup_actor,
    read_actor_map,
)
from lairs_etl.repo.packset import PackSet, PackSetReader, read_packset, write_blocks
from lairs_etl.repo.reading import StoredRecord
from lairs_etl.repo.refs import Refs, RefValue
from lairs_etl.repo.repository import LogEntry, Repository
from lairs_etl.repo.stage import Provenance
from lairs_etl.repo.storage import Storage, open_storage

__all__ = [
    "ActorState",
    "CollectionState",
    "ChangeCounts",
    "Commit",
    "FsckReport",
    "GcReport",
    "LogEntry",
    "PackSet",
    "PackSetReader",
    "Provenance",
    "RecordChange",
    "RefValue",
    "Refs",
    "Repository",
    "Storage",
    "StoredRecord",
    "build_actor_map",
    "check_ref_name",
    "collect_garbage",
    "dag_cbor_links",
    "fsck_packs",
    "fsck_refs",
    "init_layout",
    "lookup_actor",
    "open_storage",
    "read_actor_map",
    "read_layout",
    "read_packset",
    "summarize",
    "write_blocks",
]
