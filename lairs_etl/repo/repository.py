"""The corpus repository as users see it: stage, commit, tag, log, diff, read, fsck, gc.

A commit is made in four steps, the ref move last, so a crash at any point leaves the
branch at its previous head with only unreferenced objects behind (for :meth:`gc`):

1. each staged actor's writes become a tree on top of its state at the head
   (:mod:`.stage`); 2. the actor map is rebuilt for those actors only, every other
   shard carried over by CID; 3. the new blocks go into one pack (:func:`write_blocks`);
   4. the branch moves by compare-and-swap from the head the commit was built on.

When another writer moved the branch in between, step 4 fails with
:class:`RefConflictError`; unless the caller pinned ``expected_head``, the commit is
rebuilt on the new head, re-applying only this commit's actor writes (the other
writer's actors come with the new head's map), up to ``retries`` times.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from lairs_etl.atproto.blockstore import BlockSource
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import NotFoundError, RefConflictError
from lairs_etl.records.references import blob_refs
from lairs_etl.repo.blobs import BLOBS, BlobStore, blob_key
from lairs_etl.repo.changes import RecordChange, diff_states
from lairs_etl.repo.fsck import FsckReport, fsck_packs
from lairs_etl.repo.gc import DEFAULT_GRACE_SECONDS, GcReport, collect_garbage, delete_unreferenced
from lairs_etl.repo.integrity import RepositoryLinks
from lairs_etl.repo.layout import REF_KINDS, check_ref_name, init_layout, read_layout
from lairs_etl.repo.objects import (
    ActorState,
    Commit,
    build_actor_map,
    lookup_actor,
    read_actor_map,
)
from lairs_etl.repo.overlay import OverlayBlocks
from lairs_etl.repo.packset import PackSetReader, write_blocks
from lairs_etl.repo.reading import StoredRecord, iter_actor_records, read_many, read_one
from lairs_etl.repo.refs import Refs, RefValue
from lairs_etl.repo.revs import Snapshot, iter_history, resolve_rev
from lairs_etl.repo.stage import Provenance, StagedActor, apply_stage
from lairs_etl.repo.storage import Storage, open_storage

__all__ = ["DEFAULT_RETRIES", "LogEntry", "Repository"]

DEFAULT_RETRIES = 16
_MAX_BACKOFF = 2.0


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One commit of a history, newest first in :meth:`Repository.log`."""

    cid: Cid
    commit: Commit

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the CLI."""
        c = self.commit
        return {
            "commit": self.cid.encode(),
            "parents": [p.encode() for p in c.parents],
            "message": c.message,
            "author": c.author,
            "time": c.time,
        }


class Repository:
    """A corpus repository on any fsspec store; see the module docstring for commits.

    Staged writes live in this object until :meth:`commit`; reads are by revision and
    only ever see commits whose ref move completed. One instance is not meant to be
    shared between threads; processes share a repository through its storage.
    """

    def __init__(self, storage: Storage) -> None:
        read_layout(storage)
        self.storage = storage
        self.refs = Refs(storage)
        self._staged: dict[str, StagedActor] = {}

    @classmethod
    def init(
        cls, url: str, storage_options: Mapping[str, object] | None = None, *, branch: str = "main"
    ) -> Repository:
        """Create a repository (idempotent on an existing one) with an empty ``branch``.

        Raises:
            ConfigError: bad URL, options or branch name.
            RepositoryCorruptError: something that is not a repository lives there.
        """
        storage = open_storage(url, storage_options)
        init_layout(storage)
        repo = cls(storage)
        repo.default_branch = check_ref_name(branch)
        return repo

    @classmethod
    def open(cls, url: str, storage_options: Mapping[str, object] | None = None) -> Repository:
        """Open an existing repository.

        Raises:
            NotFoundError: no repository there.
            RepositoryCorruptError: unreadable or newer format marker.
        """
        return cls(open_storage(url, storage_options))

    default_branch = "main"

    def __repr__(self) -> str:
        return f"Repository({self.storage.url!r})"

    # -- staging and committing ----------------------------------------------------------

    def stage(
        self,
        did: str,
        records: Iterable[tuple[str, str, Cid, bytes]],
        *,
        replace: bool,
        deleted: Iterable[tuple[str, str]] = (),
        provenance: Provenance | None = None,
        verify: bool = True,
        tree: tuple[Cid, Iterable[tuple[Cid, bytes]]] | None = None,
    ) -> None:
        """Stage one actor's records ``(collection, rkey, cid, DAG-CBOR bytes)``.

        ``replace=True``: the records are the actor's whole tracked set (a full fetch).
        ``replace=False``: they are puts on top of the committed state, with ``deleted``
        ``(collection, rkey)`` pairs removed (an incremental fetch). Staging the same
        actor again adds to its stage; the latest ``provenance`` wins.

        ``tree`` (with ``replace``): ``(root, node blocks)`` of a verified MST whose
        leaves are exactly ``records`` (a PDS's own tree, from a full fetch); the commit
        adopts it instead of building the same tree again. The caller vouches for it:
        give only a tree whose structure and leaves were checked (``FetchResult.tree``).

        Raises:
            InvalidIdentifier: the DID, a collection or an rkey fails its syntax.
            BlockHashMismatch: (``verify``) a record's bytes do not hash to its CID.
        """
        actor = Did(did)
        staged = self._staged.get(actor)
        if staged is None or replace:
            staged = StagedActor(actor, replace, provenance or Provenance())
        elif provenance is not None:
            staged.provenance = provenance
        staged.add(records, deleted, verify=verify)
        if tree is not None and replace and not staged.deleted:
            root, nodes = tree
            staged.tree = (root, list(nodes))
        self._staged[actor] = staged

    @property
    def staged(self) -> tuple[Did, ...]:
        """The actors with staged writes."""
        return tuple(staged.did for staged in self._staged.values())

    def discard(self, did: str | None = None) -> None:
        """Drop every staged write, or only ``did``'s (an actor that failed while staging)."""
        if did is None:
            self._staged.clear()
        else:
            self._staged.pop(Did(did), None)

    def commit(
        self,
        message: str,
        author: str,
        *,
        branch: str | None = None,
        expected_head: Cid | str | None = None,
        retries: int = DEFAULT_RETRIES,
        allow_empty: bool = False,
    ) -> Cid:
        """Commit the staged actors on ``branch``; returns the new head's CID.

        With nothing changed (same roots and provenance as the head) no commit is made
        and the head is returned, unless ``allow_empty``. The stage is cleared on success.

        Raises:
            RefConflictError: ``expected_head`` is not the head, or the branch kept
                moving through ``retries`` rebuilds.
            RepositoryError: the backend failed (nothing was published).
        """
        name = check_ref_name(branch or self.default_branch)
        pinned = None if expected_head is None else self.resolve(expected_head)
        for attempt in range(retries + 1):
            head = self.refs.find("heads", name)
            if pinned is not None and (head is None or head.commit != pinned):
                raise RefConflictError(
                    f"heads/{name} is not at {pinned.encode()}",
                    ref=f"heads/{name}",
                    expected=pinned.encode(),
                    actual=None if head is None else head.commit.encode(),
                )
            value = self._build(head, message, author, allow_empty=allow_empty)
            if value is None:
                self._staged.clear()
                assert head is not None
                return head.commit
            try:
                self.refs.set("heads", name, value, expected=head)
            except RefConflictError:
                if pinned is not None or attempt == retries:
                    raise
                # Full jitter, exponential: writers that collided spread out instead of
                # colliding again, which matters on S3 where a rebuild takes many requests.
                time.sleep(random.uniform(0, min(_MAX_BACKOFF, 0.05 * 2**attempt)))  # noqa: S311  # not crypto
                continue
            self._staged.clear()
            return value.commit
        raise AssertionError("unreachable")  # pragma: no cover

    def _build(
        self, head: RefValue | None, message: str, author: str, *, allow_empty: bool
    ) -> RefValue | None:
        reader = PackSetReader(self.storage, None if head is None else head.packset)
        parent = None if head is None else Commit.decode(reader.get(head.commit))
        base = None if parent is None else parent.actors
        current = {} if base is None else _states(reader, base, self._staged)
        blocks: list[tuple[Cid, bytes]] = []
        changes: dict[str, ActorState | None] = {}
        for did, staged in self._staged.items():
            state, new_blocks = apply_stage(staged, current.get(did), reader)
            blocks.extend(new_blocks)
            if current.get(did) != state:
                changes[str(did)] = state
        if not changes and head is not None and not allow_empty:
            return None
        actors, map_blocks = build_actor_map(OverlayBlocks(reader), base, changes)
        blocks.extend(map_blocks.items())
        parents = () if head is None else (head.commit,)
        commit = Commit(actors, parents, str(message), str(author), _now())
        blocks.append((commit.cid, commit.data))
        packset = write_blocks(self.storage, reader, blocks, roots=[commit.cid])
        return RefValue(commit.cid, packset.name)

    # -- refs ----------------------------------------------------------------------------

    def tag(self, name: str, rev: str | Cid | None = None) -> Cid:
        """Name the commit at ``rev`` (default: the default branch) with a tag, forever.

        Re-tagging the same commit is a no-op.

        Raises:
            RefConflictError: the tag exists and names another commit.
            NotFoundError: ``rev`` does not resolve.
        """
        check_ref_name(name)
        snap = self._snapshot(rev)
        value = RefValue(snap.cid, snap.reader.packset.name)
        existing = self.refs.find("tags", name)
        if existing is not None and existing.commit == snap.cid:
            return snap.cid
        self.refs.set("tags", name, value, expected=None)
        return snap.cid

    def branches(self) -> dict[str, Cid]:
        """Every branch and the commit it points at."""
        return {name: v.commit for name, v in self.refs.list("heads").items()}

    def tags(self) -> dict[str, Cid]:
        """Every tag and the commit it names."""
        return {name: v.commit for name, v in self.refs.list("tags").items()}

    def head(self, branch: str | None = None) -> Cid | None:
        """The commit at the tip of ``branch``, or ``None`` for a branch with no commit."""
        value = self.refs.find("heads", check_ref_name(branch or self.default_branch))
        return None if value is None else value.commit

    # -- reading -------------------------------------------------------------------------

    def _snapshot(self, rev: str | Cid | None) -> Snapshot:
        if isinstance(rev, Cid):
            rev = rev.encode()
        return resolve_rev(self.storage, self.default_branch if rev is None else rev)

    def blocks(self, rev: str | Cid | None = None) -> BlockSource:
        """Every block the revision ``rev`` can reach, by CID (what an incremental fetch diffs against).

        Raises:
            NotFoundError: ``rev`` names nothing.
        """
        return self._snapshot(rev).reader

    def resolve(self, rev: str | Cid) -> Cid:
        """The commit CID a branch, tag, CID or unique CID prefix names.

        Raises:
            NotFoundError: nothing by that name.
            ConfigError: an ambiguous prefix.
        """
        return self._snapshot(rev).cid

    def log(self, rev: str | Cid | None = None, *, limit: int | None = None) -> Iterator[LogEntry]:
        """Commits from ``rev`` back to the first, newest first."""
        snap = self._snapshot(rev)
        for count, (cid, commit) in enumerate(iter_history(snap.reader, snap.cid)):
            if limit is not None and count >= limit:
                return
            yield LogEntry(cid, commit)

    def show(self, rev: str | Cid | None = None) -> LogEntry:
        """The commit at ``rev``."""
        snap = self._snapshot(rev)
        return LogEntry(snap.cid, snap.commit)

    def actors(
        self, rev: str | Cid | None = None, *, dids: Collection[str] | None = None
    ) -> dict[str, ActorState]:
        """Every actor's state at ``rev``, by DID (the keys are :class:`Did` values).

        With ``dids``, only those actors' (the ones the commit holds), looked up one by
        one: a few actors of a 100,000-actor repository cost a few lookups, not the map.
        """
        snap = self._snapshot(rev)
        if dids is not None:
            return {Did(d): s for d, s in _states(snap.reader, snap.commit.actors, dids).items()}
        return {Did(d): s for d, s in read_actor_map(snap.reader, snap.commit.actors).items()}

    def diff(self, a: str | Cid, b: str | Cid) -> Iterator[RecordChange]:
        """The records added, removed and changed from ``a`` to ``b``, by actor then key.

        Cost proportional to the change: equal actor roots and equal subtrees are skipped.
        """
        sa, sb = self._snapshot(a), self._snapshot(b)
        old = read_actor_map(sa.reader, sa.commit.actors)
        new = read_actor_map(sb.reader, sb.commit.actors)
        both = OverlayBlocks(_Union(sb.reader, sa.reader))
        return diff_states(old, new, both.get)

    def read_record(self, rev: str | Cid | None, uri: str) -> StoredRecord:
        """One record at ``rev``.

        Raises:
            NotFoundError: no such actor or record there.
        """
        snap = self._snapshot(rev)
        target = AtUri(uri)
        state = _states(snap.reader, snap.commit.actors, [target.did]).get(target.did)
        return read_one(snap.reader, {} if state is None else {target.did: state}, target)

    def read_records(self, rev: str | Cid | None, did: str, uris: Iterable[str]) -> dict[str, StoredRecord]:
        """``did``'s records at ``uris`` at ``rev``, by URI; those that do not exist are absent.

        Batched (a few reads for many records), for callers that know which records
        they want, such as an incremental sync looking up what it replaces.
        """
        snap = self._snapshot(rev)
        state = _states(snap.reader, snap.commit.actors, [did]).get(did)
        if state is None:
            return {}
        wanted = [AtUri(u) for u in uris]
        return {str(uri): stored for uri, stored in read_many(snap.reader, state, wanted).items()}

    def read_collection(self, rev: str | Cid | None, did: str, collection: str) -> Iterator[StoredRecord]:
        """The records of one actor's collection at ``rev``, in rkey order."""
        return self.iter_records(rev, dids=[did], collections=[collection])

    def iter_records(
        self,
        rev: str | Cid | None = None,
        *,
        dids: Collection[str] | None = None,
        collections: Collection[str] | None = None,
    ) -> Iterator[StoredRecord]:
        """Every record at ``rev``, optionally only some actors' and collections'."""
        snap = self._snapshot(rev)
        if dids is None:
            states = read_actor_map(snap.reader, snap.commit.actors)
        else:
            states = _states(snap.reader, snap.commit.actors, [Did(d) for d in dids])
        for did, state in sorted(states.items()):
            yield from iter_actor_records(snap.reader, did, state, collections)

    # -- maintenance ---------------------------------------------------------------------

    def fsck(self) -> FsckReport:
        """Re-hash every stored byte each ref depends on and walk every reachable block.

        Stray files under ``refs/`` are listed in ``strays``, not treated as damage.
        """
        report = FsckReport(strays=self.refs.strays())
        targets: dict[str, list[Cid]] = {}
        for kind in REF_KINDS:
            for value in self.refs.list(kind).values():
                targets.setdefault(value.packset, []).append(value.commit)
        for packset, commits in targets.items():
            fsck_packs(self.storage, packset, commits, RepositoryLinks(commits), report=report)
        for cid, info in self.blobs.stored():
            report.blobs += 1
            if cid is None:
                report.problems.append(f"{info.key}: not named by a CID")
            elif not self.blobs.verify(cid):
                report.problems.append(f"{info.key}: its bytes do not hash to its name")
        return report

    def gc(self, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False) -> GcReport:
        """Delete objects no ref reaches that are older than ``grace_seconds``.

        Blobs are kept while some branch's or tag's records reference them (finding
        which reads every actor state once: run when blobs are stored, it costs a read
        of the records; without blobs, nothing). As for packs, run it with a grace period
        longer than any sync takes: a blob found unreferenced while a sync commits a
        record that references it again (and finds it already stored) would go.
        """
        report = collect_garbage(self.storage, grace_seconds=grace_seconds, dry_run=dry_run)
        cutoff = time.time() - grace_seconds
        if not dry_run:  # temp files of blob writes killed mid-way
            report.partials_removed += len(self.storage.sweep_partials(BLOBS, older_than=cutoff))
        stored = list(self.blobs.stored())
        if not stored:
            return report
        live = {blob_key(cid) for cid in self.referenced_blobs()}
        delete_unreferenced(self.storage, (info for _, info in stored), live, cutoff, report, dry_run=dry_run)
        return report

    def referenced_blobs(self) -> set[Cid]:
        """Every blob CID the records of some branch or tag reference (each actor state read once)."""
        found: set[Cid] = set()
        seen: set[Cid] = set()
        heads = {value.commit for kind in REF_KINDS for value in self.refs.list(kind).values()}
        for head in heads:
            snap = self._snapshot(head)
            for did, state in read_actor_map(snap.reader, snap.commit.actors).items():
                if state.root in seen:
                    continue
                seen.add(state.root)
                for record in iter_actor_records(snap.reader, did, state, None):
                    found.update(blob_refs(record.value()))
        return found

    @property
    def blobs(self) -> BlobStore:
        """The media blobs kept beside the records (:mod:`lairs_etl.repo.blobs`)."""
        return BlobStore(self.storage)


class _Union:
    """Read from the first source that holds a block (two revisions' packsets)."""

    def __init__(self, first: PackSetReader, second: PackSetReader) -> None:
        self._sources = (first,) if first.packset == second.packset else (first, second)

    def get(self, cid: Cid) -> bytes:
        for source in self._sources:
            with contextlib.suppress(NotFoundError):
                return source.get(cid)
        raise NotFoundError("block in neither revision", cid=cid.encode())

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        wanted = list(cids)
        found = self._sources[0].get_many(wanted)
        if len(self._sources) > 1 and len(found) < len(wanted):
            found.update(self._sources[1].get_many(c for c in wanted if c not in found))
        return found


def _states(reader: PackSetReader, root: Cid, dids: Iterable[str]) -> dict[str, ActorState]:
    out: dict[str, ActorState] = {}
    for did in dids:
        state = lookup_actor(reader, root, did)
        if state is not None:
            out[did] = state
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
