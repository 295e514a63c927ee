"""The three MST walks the fetch modes need, on :mod:`lairs_etl.atproto.mst`.

* :func:`walk_leaves`: every leaf of a tree held in a block store (``car`` mode);
* :func:`partial_walk`: level by level through :class:`~lairs_etl.atproto.mst.TreeWalk`,
  fetching only the nodes whose key range can hold a tracked prefix (``tree`` mode),
  and only those not held from an earlier walk (incremental ``tree`` mode);
* :func:`changed_leaves`: what changed between two roots (incremental modes).

Errors raised by the MST package get the actor's DID added, so they name both the
actor and the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from lairs_etl.atproto import mst
from lairs_etl.atproto.blockstore import BlockStore
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.model import CollectionFilter
from lairs_etl.atproto.syntax import Did
from lairs_etl.errors import CarFormatError, LairsError

__all__ = ["changed_leaves", "partial_walk", "walk_leaves"]

Leaf = tuple[str, Cid]
BlockFetcher = Callable[[Sequence[Cid]], dict[Cid, bytes]]
"""Fetches blocks by CID, hash-checked, every one present (``getBlocks``)."""


def walk_leaves(store: BlockStore, root: Cid, *, actor: Did) -> list[Leaf]:
    """Every ``(key, value CID)`` of the tree at ``root``, in key order, structure checked.

    The store's blocks were hash-checked on the way in, so they are not hashed again.

    Raises:
        MstStructureError: a node is missing or breaks the MST rules.
    """
    with _naming(actor):
        return list(mst.walk_leaves(root, store.get, verify_hashes=False))


def partial_walk(
    root: Cid,
    prefixes: Sequence[str],
    fetch: BlockFetcher,
    *,
    actor: Did,
    held: Callable[[list[Cid]], Iterable[Cid]] | None = None,
) -> list[Leaf]:
    """The leaves under ``prefixes``, fetching only the nodes that can hold them.

    ``held`` names, among the nodes a level wants, those held from an earlier verified
    walk: their subtrees are unchanged and skipped, so only changed nodes are fetched
    and only their leaves returned.

    Raises:
        MstStructureError: a node breaks the MST rules.
        CarFormatError: ``fetch`` did not return a node asked for.
    """
    with _naming(actor):
        walk = mst.TreeWalk(root, prefixes=prefixes, verify_hashes=False)
        while not walk.done:
            wanted = walk.wanted()
            if held is not None and walk.skip(held(wanted)):
                wanted = walk.wanted()
                if not wanted:
                    continue
            walk.feed(fetch(wanted))
            still = set(walk.wanted())
            missing = [cid for cid in wanted if cid in still]
            if missing:
                raise CarFormatError("an MST node asked for was not returned", cid=missing[0].encode())
        return walk.leaves()


def changed_leaves(
    store: BlockStore, old_root: Cid, new_root: Cid, collections: CollectionFilter, *, actor: Did
) -> tuple[list[Leaf], list[str]]:
    """Tracked leaves created or changed from ``old_root`` to ``new_root``, and keys deleted.

    Subtrees the two roots share are skipped: they were verified by the earlier fetch.

    Raises:
        MstStructureError: either tree is incomplete in ``store`` or malformed.
    """
    changed: list[Leaf] = []
    deleted: list[str] = []
    with _naming(actor):
        for change in mst.diff(old_root, new_root, store.get, verify_hashes=False):
            if not collections.matches_key(change.key):
                continue
            if change.new is None:
                deleted.append(change.key)
            else:
                changed.append((change.key, change.new))
    return changed, deleted


@contextmanager
def _naming(actor: Did) -> Iterator[None]:
    """Add ``actor`` to the lairs-etl errors raised inside."""
    try:
        yield
    except LairsError as exc:
        exc.actor = exc.actor or str(actor)
        raise
