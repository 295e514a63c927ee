"""What a lake holds besides its tables, and which files one materialization rewrites.

A materialization rewrites a :class:`Scope` (every actor; some actors; some collections
of some actors). What it does not rewrite it carries over: the manifest's partition
counts and statistics, the actors' state files and commits, and the files themselves
(:func:`stale_files` lists only what lies inside the scope). A failed actor keeps what
the previous manifest said of it (:func:`keep_previous`), so the next stale-only run
retries it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import fsspec

from lairs_etl.views.layout import ACTORS_DIR, TableKey, encode_actor, table_dir
from lairs_etl.views.manifest import ActorStats, Manifest, encode_actor_state
from lairs_etl.views.writer import remove_files, replace_file, storage_errors

__all__ = [
    "Scope",
    "actor_commits",
    "actor_state_path",
    "keep_previous",
    "partition_value",
    "stale_files",
    "write_actor_states",
]


@dataclass(frozen=True)
class Scope:
    """The partitions one materialization rewrites.

    ``full``: every actor of the source (and every actor's files are candidates for
    removal); else ``actors``, each with the collections rewritten (``None``: all).
    """

    full: bool
    actors: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    def covers(self, did: str, collection: str) -> bool:
        """Whether the partition (actor, collection) is rewritten."""
        if self.full:
            return True
        if did not in self.actors:
            return False
        only = self.actors[did]
        return only is None or collection in only

    def collections(self, did: str) -> frozenset[str] | None:
        """The collections of ``did`` to rewrite (``None``: all of them)."""
        return None if self.full else self.actors.get(did)

    def covers_path(self, path: str) -> bool:
        """Whether a partition file lies in the scope."""
        if self.full:
            return True
        actor, collection = partition_value(path, "actor"), partition_value(path, "collection")
        for did, only in self.actors.items():
            if actor == encode_actor(did):
                return only is None or collection in only
        return False


def keep_previous(
    old: Manifest,
    versions: Mapping[TableKey, int],
    failed: set[str],
    partitions: dict[TableKey, dict[str, int]],
    stats: list[ActorStats],
) -> None:
    """Put back what the manifest said of failed actors' untouched files (same table version).

    A file the actor had already rewritten before failing keeps its new row count; the
    actor's commit stays the previous one, so the next stale-only run rewrites it whole.
    """
    for entry in old.tables:
        if versions.get(entry.key) != entry.version:
            continue
        for did in failed & set(entry.partitions):
            partitions.setdefault(entry.key, {}).setdefault(did, entry.partitions[did])
    known = {(s.did, s.collection) for s in stats}
    stats.extend(s for s in old.stats if s.did in failed and (s.did, s.collection) not in known)


def write_actor_states(
    fs: fsspec.AbstractFileSystem,
    root: str,
    manifest: Manifest,
    *,
    commit: str,
    chosen: list[str],
    full: bool,
    keep: set[str],
) -> None:
    """One state file per rewritten actor; actors without records lose theirs (``keep``'s stay)."""
    holding = {s.did for s in manifest.stats}
    for did in chosen:
        if did in holding:
            replace_file(fs, actor_state_path(root, did), encode_actor_state(did, commit, manifest))
    with storage_errors(f"cannot list {root}"):
        present = [str(p) for p in fs.glob(f"{root}/{ACTORS_DIR}/*.json")]
    kept = {actor_state_path(root, did) for did in holding | keep}
    scope = None if full else {actor_state_path(root, did) for did in chosen}
    remove_files(fs, [p for p in present if p not in kept and (scope is None or p in scope)])


def actor_commits(
    old: Manifest | None,
    stats: list[ActorStats],
    commit: str,
    chosen: list[str],
    *,
    full: bool,
    failed: set[str],
) -> dict[str, str]:
    """Each actor holding records, with the commit its partitions come from.

    A failed actor keeps its previous commit (or none), so a stale-only run retries it.
    """
    previous = {} if old is None else dict(old.actor_commits)
    kept = {} if full else previous
    holding = {s.did for s in stats}
    out: dict[str, str] = {}
    for did in sorted(holding):
        if did in failed:
            if did in previous:
                out[did] = previous[did]
        else:
            out[did] = commit if did in chosen else kept.get(did, commit)
    return out


def actor_state_path(root: str, did: str) -> str:
    """Where the state file of ``did`` lives under the lake ``root``."""
    return f"{root}/{ACTORS_DIR}/{encode_actor(did)}.json"


def stale_files(
    fs: fsspec.AbstractFileSystem,
    root: str,
    versions: Mapping[TableKey, int],
    only: Collection[str] | None,
    written: set[str],
    *,
    keep: Collection[str] = (),
) -> list[str]:
    """Partition files of the current table versions that this run did not write.

    Only ``only``'s actors' files when given; never ``keep``'s (actors that failed).
    """
    with storage_errors(f"cannot list {root}"):
        present = fs.find(root) if fs.exists(root) else []
    dirs = tuple(table_dir(root, key, version) + "/" for key, version in versions.items())
    scope = None if only is None else {encode_actor(did) for did in only}
    kept = {encode_actor(did) for did in keep}
    stale = []
    for found in present:
        path = str(found)
        if path in written or not path.endswith(".parquet") or not path.startswith(dirs):
            continue
        actor = partition_value(path, "actor")
        if actor in kept:
            continue
        if scope is None or actor in scope:
            stale.append(path)
    return stale


def partition_value(path: str, name: str) -> str | None:
    """The ``name=`` value in a partition path, as written (escaped, maybe shortened)."""
    prefix = f"{name}="
    for part in path.split("/"):
        if part.startswith(prefix):
            return part.removeprefix(prefix)
    return None
