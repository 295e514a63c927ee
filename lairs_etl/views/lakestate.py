"""What a lake holds besides its tables, and which partitions one materialization rewrites.

A materialization rewrites a :class:`Scope` (every actor; some actors; some collections
of some actors). What it does not rewrite it carries over: the manifest's partition
counts, files and statistics, and the actors' state files and commits. A failed actor
keeps what the previous manifest said of it (:func:`keep_previous`), so the next
stale-only run retries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import fsspec

from lairs_etl.views.layout import ACTORS_DIR, TableKey, encode_actor
from lairs_etl.views.manifest import ActorStats, Manifest, encode_actor_state
from lairs_etl.views.writer import remove_files, replace_file, storage_errors

__all__ = [
    "Scope",
    "actor_commits",
    "actor_state_path",
    "keep_previous",
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


def keep_previous(  # noqa: PLR0917  # the manifest's state, rebuilt in place
    old: Manifest,
    versions: Mapping[TableKey, int],
    failed: set[str],
    partitions: dict[TableKey, dict[str, int]],
    files: dict[TableKey, dict[str, str]],
    stats: list[ActorStats],
) -> None:
    """Put back what the manifest said of failed actors' partitions (same table version).

    Files are never overwritten, so a failed actor's previous files are still there and
    still current; the actor's commit stays the previous one, so the next stale-only
    run rewrites it.
    """
    for entry in old.tables:
        if versions.get(entry.key) != entry.version:
            continue
        for did in failed & set(entry.partitions):
            partitions.setdefault(entry.key, {})[did] = entry.partitions[did]
            if did in entry.files:
                files.setdefault(entry.key, {})[did] = entry.files[did]
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
