"""Pack-level garbage collection: delete packs, segments and packsets no ref can reach.

Leftovers come from commits that crashed or lost a ref race (they wrote pack, index
and packset, then never moved a ref) and from segments superseded by merges. Live
objects are those named, directly or through a segment, by the packset of some
branch or tag. Objects younger than ``grace_seconds`` are kept whatever their state,
because a commit in flight has written them and not yet moved its ref.

Limits: blocks that became unreachable inside a live pack are kept (no repacking);
and a writer that started from a ref which is then moved away, and publishes under a
*new* ref after ``grace_seconds``, may reference segments gc has removed: run gc with
a grace period longer than any commit takes.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from lairs_etl.repo.layout import INDEXES, PACKS, PACKSETS, REF_KINDS, index_key, pack_key, packset_key
from lairs_etl.repo.packset import PackSetReader
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import ObjectInfo, Storage

__all__ = ["DEFAULT_GRACE_SECONDS", "GcReport", "collect_garbage", "delete_unreferenced", "live_keys"]

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass
class GcReport:
    """What gc deleted (or would, in a dry run), kept for being young, and freed.

    ``partials_removed`` counts temp files of local writes killed mid-way; ``strays``
    lists stray keys under ``refs/`` (not refs, so they keep nothing alive; left alone).
    """

    deleted: list[str] = field(default_factory=list)
    kept_young: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    partials_removed: int = 0
    strays: list[str] = field(default_factory=list)


def live_keys(storage: Storage) -> set[str]:
    """Keys of every packset, segment and pack that some branch or tag depends on.

    Raises:
        RepositoryCorruptError: a live packset or segment is missing or damaged (gc
            then refuses to run rather than guess).
    """
    refs = Refs(storage)
    live: set[str] = set()
    packsets = {v.packset for kind in REF_KINDS for v in refs.list(kind).values()}
    for name in packsets:
        reader = PackSetReader(storage, name)
        live.add(packset_key(name))
        live.update(index_key(s.index) for s in reader.packset.segments)
        live.update(pack_key(p) for p in reader.packs())
    return live


def collect_garbage(
    storage: Storage,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    now: float | None = None,
) -> GcReport:
    """Delete unreferenced packs, segments and packsets older than ``grace_seconds``.

    Raises:
        RepositoryCorruptError: see :func:`live_keys`.
        RepositoryError: the backend failed.
    """
    live = live_keys(storage)
    cutoff = (time.time() if now is None else now) - grace_seconds
    report = GcReport(strays=Refs(storage).strays())
    # Packsets first, then segments, then packs: a crash midway never leaves a packset
    # whose segments are gone (only unreferenced segments or packs remain).
    for prefix in (PACKSETS, INDEXES, PACKS):
        if not dry_run:
            report.partials_removed += len(storage.sweep_partials(prefix, older_than=cutoff))
        delete_unreferenced(storage, storage.list(prefix + "/"), live, cutoff, report, dry_run=dry_run)
    return report


def delete_unreferenced(  # the sweep's inputs and its report
    storage: Storage,
    objects: Iterable[ObjectInfo],
    live: Container[str],
    cutoff: float,
    report: GcReport,
    *,
    dry_run: bool,
) -> None:
    """Delete the ``objects`` whose key is not ``live`` and whose mtime is before ``cutoff``.

    Younger ones (and those without an mtime) are kept, listed in ``report.kept_young``:
    a writer in flight may be about to reference them.
    """
    for obj in objects:
        if obj.key in live:
            continue
        if obj.mtime is None or obj.mtime > cutoff:
            report.kept_young.append(obj.key)
            continue
        report.deleted.append(obj.key)
        report.bytes_freed += obj.size
        if not dry_run:
            storage.delete(obj.key)
