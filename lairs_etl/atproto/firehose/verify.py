"""Inductive verification of firehose commits (Sync 1.1), one frame at a time.

:func:`verify_commit_event` proves a ``#commit`` from its own blocks, given the actor's
signing key:

1. the blocks (a CAR slice) are read with the bounded reader, each hash-checked;
2. the signed commit block is there, names the frame's ``repo`` and ``rev``, and its
   signature is the key's;
3. every op matches the new tree (a create or update finds its record CID under its
   path, a delete finds nothing), and each created or updated record's block is there;
4. *inversion*: undoing the ops on the new tree (whose unchanged subtrees are only CID
   stubs) must give back ``prevData``. A block the undo needs and the frame lacks is a
   rejection, never an assumption. Forward application would need the whole old tree.

:func:`check_chain` is the stateful half: the commit must start from the data root held
for the actor and come after the last rev accepted. Keeping that state is the caller's
job (the sync layer holds it in the repository). Both raise typed
:class:`~lairs_etl.errors.VerificationError` children; nothing is returned unless
every check passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.commit import Commit, parse_commit, verify_commit
from lairs_etl.atproto.crypto import PublicKey
from lairs_etl.atproto.firehose.frames import Action, CommitEvent, SyncEvent
from lairs_etl.atproto.mst import BlockGetter, MstEditor
from lairs_etl.atproto.syntax import Nsid, RecordKey
from lairs_etl.errors import (
    ChainBreakError,
    CommitProofError,
    FrameError,
    InvalidIdentifier,
    MstStructureError,
    VerificationError,
)

__all__ = [
    "MAX_OPS",
    "Undo",
    "VerifiedCommit",
    "VerifiedWrite",
    "check_chain",
    "invert",
    "read_blocks",
    "verify_commit_event",
    "verify_sync_event",
]

MAX_OPS = 200
"""Most ops a commit frame may carry (the producers' limit; more is refused)."""

_MAX_BLOCKS = 10_000


@dataclass(frozen=True, slots=True)
class VerifiedWrite:
    """One proven op: ``block`` is the record's DAG-CBOR (hash-checked) unless a delete."""

    action: Action
    collection: Nsid
    rkey: RecordKey
    cid: Cid | None
    prev: Cid | None
    block: bytes | None = field(repr=False)

    @property
    def path(self) -> str:
        """The MST key ``collection/rkey``."""
        return f"{self.collection}/{self.rkey}"


@dataclass(frozen=True, slots=True)
class VerifiedCommit:
    """A ``#commit`` whose signature and proof checked out.

    The actor's tree went from ``prev_data`` to ``data``; whether ``prev_data`` is the
    state held for the actor is :func:`check_chain`'s question.
    """

    seq: int
    did: str
    rev: str
    since: str | None
    commit: Cid
    data: Cid
    prev_data: Cid
    writes: tuple[VerifiedWrite, ...]
    time: str
    blocks: Mapping[Cid, bytes] = field(repr=False)


def read_blocks(car: bytes) -> dict[Cid, bytes]:
    """The blocks of a frame's CAR slice, each checked against its CID.

    Raises:
        CarFormatError / BlockHashMismatch: malformed, or a block that does not hash.
        FrameError: more blocks than any producer sends.
    """
    blocks: dict[Cid, bytes] = {}
    for cid, data in read_car(car):
        blocks[cid] = data
        if len(blocks) > _MAX_BLOCKS:
            raise FrameError(f"frame CAR holds more than {_MAX_BLOCKS} blocks")
    return blocks


def _signed(blocks: Mapping[Cid, bytes], cid: Cid, did: str, rev: str, key: PublicKey) -> Commit:
    block = blocks.get(cid)
    if block is None:
        raise CommitProofError("the frame lacks its signed commit block", actor=did, cid=cid.encode())
    commit = parse_commit(block)
    if commit.did != did:
        raise CommitProofError(f"the signed commit is {commit.did}'s, not the frame's", actor=did)
    if commit.rev != rev:
        raise CommitProofError(f"the signed commit is rev {commit.rev}, the frame says {rev}", actor=did)
    verify_commit(commit, key)
    return commit


def verify_sync_event(event: SyncEvent, key: PublicKey) -> Commit:
    """The signed commit a ``#sync`` resets its actor to, once its signature checks out.

    Raises:
        VerificationError: blocks malformed, commit block missing or not the frame's
            account and rev, or not signed by ``key``.
    """
    blocks = read_blocks(event.blocks)
    roots = [cid for cid in blocks if _is_commit_for(blocks[cid], event)]
    if len(roots) != 1:
        raise CommitProofError("a #sync frame must carry exactly its signed commit", actor=event.did)
    return _signed(blocks, roots[0], event.did, event.rev, key)


def _is_commit_for(block: bytes, event: SyncEvent) -> bool:
    try:
        return parse_commit(block).did == event.did
    except VerificationError:
        return False


def verify_commit_event(event: CommitEvent, key: PublicKey) -> VerifiedCommit:
    """Prove ``event`` from its blocks (see the module docstring).

    Raises:
        FrameError: more than :data:`MAX_OPS` ops, a malformed path, a path twice, an
            update or delete without ``prev``, or no ``prevData`` (a Sync 1.0 frame
            cannot be verified inductively).
        SignatureError: not signed by ``key``.
        CommitProofError: an op does not match the tree, a block is missing, or the
            inversion does not give ``prevData``.
        CarFormatError / BlockHashMismatch: the blocks are malformed or do not hash.
    """
    did = event.repo
    if event.prev_data is None:
        raise FrameError("#commit without prevData (Sync 1.0) cannot be verified inductively", actor=did)
    if len(event.ops) > MAX_OPS:
        raise FrameError(f"#commit carries {len(event.ops)} ops (at most {MAX_OPS})", actor=did)
    blocks = read_blocks(event.blocks)
    commit = _signed(blocks, event.commit, did, event.rev, key)
    writes = _writes(event, blocks)
    undo = [(w.path, w.cid, w.prev) for w in writes]
    root = invert(commit.data, undo, blocks.__getitem__, actor=did)
    if root != event.prev_data:
        raise CommitProofError(
            f"undoing the ops gives {root.encode()}, not prevData {event.prev_data.encode()}", actor=did
        )
    return VerifiedCommit(
        seq=event.seq,
        did=did,
        rev=event.rev,
        since=event.since,
        commit=event.commit,
        data=commit.data,
        prev_data=event.prev_data,
        writes=writes,
        time=event.time,
        blocks=blocks,
    )


Undo = tuple[str, Cid | None, Cid | None]
"""One op to check and undo: its MST key, the value after it (None: deleted) and before
it (None: created)."""


def invert(data: Cid, ops: Sequence[Undo], get: BlockGetter, *, actor: str | None = None) -> Cid:
    """The root before ``ops``, from the tree after them (root ``data``).

    Each op must match the new tree first (a create or update finds its CID under its
    key, a delete finds nothing); then each is undone, last first. ``get`` holds the
    proof's nodes only (already hash-checked); unchanged subtrees stay CID stubs.

    Raises:
        CommitProofError: an op does not match the tree, or a node the checks or the
            undo need is not in ``get``.
    """
    try:
        editor = MstEditor(get, verify_hashes=False)
        for key, after, _ in ops:
            if editor.get(data, key) != after:
                raise CommitProofError(f"the op on {key} does not match the new tree", actor=actor)
        root = data
        for key, _, before in reversed(ops):
            root = editor.delete(root, key) if before is None else editor.put(root, key, before)
    except MstStructureError as exc:
        message = f"the blocks do not prove the ops: {exc.message}"
        raise CommitProofError(message, actor=actor, cid=exc.cid) from exc
    return root


def _writes(event: CommitEvent, blocks: Mapping[Cid, bytes]) -> tuple[VerifiedWrite, ...]:
    did = event.repo
    seen: set[str] = set()
    writes = []
    for op in event.ops:
        collection, _, rkey = op.path.partition("/")
        try:
            write = VerifiedWrite(op.action, Nsid(collection), RecordKey(rkey), op.cid, op.prev, None)
        except InvalidIdentifier as exc:
            raise FrameError(f"#commit op path {op.path!r:.120} is not collection/rkey", actor=did) from exc
        if write.path in seen:
            raise FrameError(f"#commit writes {write.path} twice", actor=did)
        seen.add(write.path)
        if op.action != "create" and op.prev is None:
            raise FrameError(
                f"#commit {op.action} of {write.path} without prev (Sync 1.1 needs it)", actor=did
            )
        if op.action == "create" and op.prev is not None:
            raise FrameError(f"#commit create of {write.path} names a prev", actor=did)
        if op.cid is not None:
            block = blocks.get(op.cid)
            if block is None:
                raise CommitProofError(f"the frame lacks the record block of {write.path}", actor=did)
            write = VerifiedWrite(write.action, write.collection, write.rkey, op.cid, op.prev, block)
        writes.append(write)
    return tuple(writes)


def check_chain(commit: VerifiedCommit, held_rev: str | None, held_data: Cid | None) -> None:
    """Check that ``commit`` follows the state held for its actor.

    Raises:
        ChainBreakError: ``reason="stale"`` when its rev is not after ``held_rev``;
            ``reason="desynchronized"`` when nothing is held or its ``prevData`` is not
            ``held_data``.
    """
    if held_rev is not None and commit.rev <= held_rev:
        raise ChainBreakError(
            f"commit rev {commit.rev} is not after the last accepted {held_rev}",
            reason="stale",
            actor=commit.did,
        )
    if held_data is None or commit.prev_data != held_data:
        held = "nothing" if held_data is None else held_data.encode()
        raise ChainBreakError(
            f"commit starts from {commit.prev_data.encode()}, the repository holds {held}",
            reason="desynchronized",
            actor=commit.did,
        )
