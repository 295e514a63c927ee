"""Record-level differences between two repository states.

Two states are two actor maps. Actors whose tree root is the same CID in both are
skipped without reading anything; for the others the MST diff opens only the subtrees
whose CIDs differ. The cost is therefore proportional to what changed, never to the
size of the corpus. An actor present on one side only is compared against the empty
tree, so all its records show as added (or removed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import EMPTY_ROOT, Node, diff
from lairs_etl.atproto.mst.loader import BlockGetter
from lairs_etl.atproto.syntax import AtUri, Did, Nsid, RecordKey
from lairs_etl.repo.objects import ActorState

__all__ = ["ChangeCounts", "RecordChange", "diff_states", "summarize"]

_EMPTY_BYTES = Node.empty().encode()


@dataclass(frozen=True, slots=True)
class RecordChange:
    """One record that differs: ``old_cid`` ``None`` = added, ``new_cid`` ``None`` = removed."""

    did: Did
    collection: Nsid
    rkey: RecordKey
    old_cid: Cid | None
    new_cid: Cid | None

    @property
    def uri(self) -> AtUri:
        """The record's ``at://`` URI."""
        return AtUri.for_record(self.did, self.collection, self.rkey)

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.old_cid is None:
            return "added"
        return "removed" if self.new_cid is None else "changed"

    def to_json(self) -> dict[str, str | None]:
        """A JSON-ready form for the CLI and logs."""
        return {
            "uri": str(self.uri),
            "kind": self.kind,
            "old": None if self.old_cid is None else self.old_cid.encode(),
            "new": None if self.new_cid is None else self.new_cid.encode(),
        }


@dataclass(slots=True)
class ChangeCounts:
    """How many records of one actor's collection were added, removed and changed."""

    added: int = 0
    removed: int = 0
    changed: int = 0


def _with_empty(get: BlockGetter) -> BlockGetter:
    """The empty tree's node is never stored (no record points at it): answer it here."""

    def read(cid: Cid) -> bytes:
        return _EMPTY_BYTES if cid == EMPTY_ROOT else get(cid)

    return read


def diff_states(
    old: Mapping[str, ActorState], new: Mapping[str, ActorState], get: BlockGetter
) -> Iterator[RecordChange]:
    """Yield every record change from ``old`` to ``new``, by actor (sorted) then key.

    Raises:
        MstStructureError: a tree node is missing or malformed.
        BlockHashMismatch: a block does not hash to its CID.
    """
    reader = _with_empty(get)
    for did in sorted(set(old) | set(new)):
        a, b = old.get(did), new.get(did)
        a_root = EMPTY_ROOT if a is None else a.root
        b_root = EMPTY_ROOT if b is None else b.root
        if a_root == b_root:
            continue
        actor = Did(did)
        for change in diff(a_root, b_root, reader, verify_hashes=False):
            collection, _, rkey = change.key.partition("/")
            yield RecordChange(actor, Nsid(collection), RecordKey(rkey), change.old, change.new)


def summarize(changes: Iterable[RecordChange]) -> dict[str, dict[str, ChangeCounts]]:
    """Counts per actor and collection: ``{did: {collection: ChangeCounts}}``."""
    out: dict[str, dict[str, ChangeCounts]] = {}
    for change in changes:
        counts = out.setdefault(change.did, {}).setdefault(change.collection, ChangeCounts())
        setattr(counts, change.kind, getattr(counts, change.kind) + 1)
    return out
