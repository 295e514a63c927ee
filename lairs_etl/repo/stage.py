"""Staged changes to one actor, and how they become a new tree on top of a base state.

A stage keeps the *writes* (records to put, keys to delete), not a finished tree, so a
commit that loses a ref race can re-apply exactly this actor's writes on top of the
new head: the other actors come from that head's actor map untouched.

Two ways to turn writes into a tree, chosen by size because their costs differ:

* a full replacement, or many writes, builds the whole tree with :func:`build` from the
  merged key set (one pass, every node encoded once);
* a few writes on a large tree go through :class:`MstEditor`, reading and rewriting
  only the nodes on the paths to the keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from lairs_etl.atproto.blockstore import BlockSource
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.mst import EMPTY_ROOT, MstEditor, build, walk_leaves
from lairs_etl.atproto.syntax import Did, Nsid, RecordKey
from lairs_etl.errors import BlockHashMismatch
from lairs_etl.repo.objects import ActorState, CollectionState
from lairs_etl.repo.overlay import OverlayBlocks, prefetch_paths, prefetch_tree

__all__ = ["EDITOR_LIMIT", "Provenance", "StagedActor", "apply_stage", "record_key"]

EDITOR_LIMIT = 256
"""Up to this many writes on an existing tree go through the editor; more rebuild it."""


def record_key(collection: str, rkey: str) -> str:
    """The MST key ``collection/rkey`` of a record, both parts validated."""
    return f"{Nsid(collection)}/{RecordKey(rkey)}"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an actor's records came from, recorded in its :class:`ActorState`.

    ``fetched_at`` defaults to the staging time and ``lexicon_hash`` to the hash of the
    lexicon tree the installed models were generated from. The counts, when given,
    describe the actor's whole record set after the commit (not just this stage), as
    ``collections`` does per collection: the caller merges what a partial sync learnt
    into what the base state knew (the repository stores what it is given).
    """

    fetched_at: str | None = None
    lexicon_hash: str | None = None
    pds_commit: Cid | None = None
    pds_rev: str | None = None
    valid_count: int | None = None
    invalid_count: int | None = None
    collections: tuple[tuple[str, CollectionState], ...] = ()
    pds_data: Cid | None = None


@dataclass(slots=True)
class StagedActor:
    """One actor's pending writes: ``records`` by MST key, ``deleted`` keys, and mode.

    ``tree``: the ``(root, node blocks)`` of the MST of exactly ``records``, when the
    caller had a verified one (a full replacement); any later write drops it.
    """

    did: Did
    replace: bool
    provenance: Provenance
    records: dict[str, tuple[Cid, bytes]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    tree: tuple[Cid, list[tuple[Cid, bytes]]] | None = None

    def add(
        self,
        records: Iterable[tuple[str, str, Cid, bytes]],
        deleted: Iterable[tuple[str, str]],
        *,
        verify: bool,
    ) -> None:
        """Add writes; a later write to the same key wins, a put cancels a delete.

        Raises:
            InvalidIdentifier: a collection or rkey fails its syntax.
            BlockHashMismatch: (``verify``) a record's bytes do not hash to its CID.
        """
        self.tree = None  # no longer the tree of the records
        checked: dict[str, Nsid] = {}
        for collection, rkey, cid, data in records:
            nsid = checked.get(collection) or checked.setdefault(collection, Nsid(collection))
            key = f"{nsid}/{RecordKey(rkey)}"
            if verify and cid_for_dag_cbor(data) != cid:
                raise BlockHashMismatch(
                    f"record {key} does not hash to its CID", actor=self.did, cid=cid.encode()
                )
            self.records[key] = (cid, data)
            self.deleted.discard(key)
        for collection, rkey in deleted:
            key = record_key(collection, rkey)
            self.records.pop(key, None)
            self.deleted.add(key)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _lexicon_hash() -> str:
    # Imported on use: the generated models are heavy and a commit that names its
    # lexicon hash never needs them.
    from lairs_etl.records.registry import LEXICON_SHA256

    return LEXICON_SHA256


def apply_stage(
    staged: StagedActor, base: ActorState | None, source: BlockSource
) -> tuple[ActorState, list[tuple[Cid, bytes]]]:
    """The actor's new state and the blocks it needs (nodes and records, maybe some held).

    Blocks come as a list, not a dict: hashing a ``Cid`` runs Python code, and the
    pack writer deduplicates by CID bytes anyway.

    Raises:
        ConfigError: a record value is not a ``Cid``.
        RepositoryCorruptError / MstStructureError: the base tree is damaged.
    """
    blocks: list[tuple[Cid, bytes]] = list(staged.records.values())
    if staged.replace and staged.tree is not None:
        root, adopted = staged.tree
        blocks.extend(adopted)
    elif staged.replace or base is None or base.root == EMPTY_ROOT:
        tree = build(sorted((key, cid) for key, (cid, _) in staged.records.items()))
        root = tree.root
        blocks.extend(tree.blocks.items())
    elif len(staged.records) + len(staged.deleted) > EDITOR_LIMIT:
        nodes = prefetch_tree(source, base.root)
        merged = dict(walk_leaves(base.root, nodes.__getitem__))
        for key in staged.deleted:
            merged.pop(key, None)
        merged.update((key, cid) for key, (cid, _) in staged.records.items())
        tree = build(sorted(merged.items()))
        root = tree.root
        blocks.extend(tree.blocks.items())
    else:
        paths = prefetch_paths(source, base.root, [*staged.deleted, *staged.records])
        editor = MstEditor(OverlayBlocks(source, paths).get)
        writes: list[tuple[str, Cid | None]] = [(key, None) for key in sorted(staged.deleted)]
        writes += [(key, cid) for key, (cid, _) in sorted(staged.records.items())]
        root = editor.apply(base.root, writes)
        blocks.extend(editor.new_blocks(root).items())
    p = staged.provenance
    state = ActorState(
        root=root,
        fetched_at=str(p.fetched_at or _now()),
        lexicon_hash=str(p.lexicon_hash or _lexicon_hash()),
        pds_commit=p.pds_commit,
        pds_rev=None if p.pds_rev is None else str(p.pds_rev),
        valid_count=p.valid_count,
        invalid_count=p.invalid_count,
        collections=p.collections,
        pds_data=p.pds_data,
    )
    return state, blocks
