"""Verified walks over a whole tree read through a block getter.

Every node is hash-checked, decoded strictly and checked against its slot (layer and
key range, see :mod:`.check`), so the keys come out in strictly increasing order and a
tree that breaks any rule raises instead of yielding a wrong key set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.check import check_placement, child_ranges
from lairs_etl.atproto.mst.keys import key_layer
from lairs_etl.atproto.mst.loader import BlockGetter, NodeLoader
from lairs_etl.atproto.mst.node import Node
from lairs_etl.atproto.mst.span import KeySpan, key_filter, spans_overlap

__all__ = ["lookup", "walk_leaves", "walk_nodes"]


@dataclass(frozen=True, slots=True)
class _Slot:
    """A subtree link with what its parent promises about it."""

    cid: Cid
    layer: int | None
    lo: str | None
    hi: str | None


def walk_leaves(
    root: Cid,
    get: BlockGetter,
    *,
    prefixes: Iterable[str] | None = None,
    spans: Iterable[KeySpan] | None = None,
    verify_hashes: bool = True,
) -> Iterator[tuple[str, Cid]]:
    """Yield ``(key, value)`` in key order, only keys matching a prefix or span if given.

    With a filter, only the subtrees that can hold a matching key are read.

    Raises:
        MstStructureError: a node is missing, malformed or misplaced.
        BlockHashMismatch: a block does not hash to its CID.
    """
    keep = key_filter(prefixes, spans)
    loader = NodeLoader(get, verify_hashes=verify_hashes)
    work: list[_Slot | tuple[str, Cid]] = [_Slot(root, None, None, None)]
    while work:
        item = work.pop()
        if not isinstance(item, _Slot):
            yield item
            continue
        node, layer = _open(loader, item)
        later: list[_Slot | tuple[str, Cid]] = []
        for i, (lo, hi) in enumerate(child_ranges(node, item.lo, item.hi)):
            if i:
                key = node.keys[i - 1]
                if keep is None or any(s.contains(key) for s in keep):
                    later.append((key, node.values[i - 1]))
            sub = node.subtrees[i]
            if sub is not None and spans_overlap(keep, lo, hi):
                later.append(_Slot(sub, layer - 1, lo, hi))
        work.extend(reversed(later))


def walk_nodes(root: Cid, get: BlockGetter, *, verify_hashes: bool = True) -> Iterator[tuple[Cid, Node]]:
    """Yield every node of the tree, parents before children, checked as in :func:`walk_leaves`.

    This is the block set a CAR export or a reachability sweep needs.

    Raises:
        MstStructureError: a node is missing, malformed or misplaced.
        BlockHashMismatch: a block does not hash to its CID.
    """
    loader = NodeLoader(get, verify_hashes=verify_hashes)
    work = [_Slot(root, None, None, None)]
    while work:
        slot = work.pop()
        node, layer = _open(loader, slot)
        yield slot.cid, node
        ranges = child_ranges(node, slot.lo, slot.hi)
        work.extend(
            _Slot(sub, layer - 1, lo, hi)
            for sub, (lo, hi) in reversed(list(zip(node.subtrees, ranges, strict=True)))
            if sub is not None
        )


def lookup(
    root: Cid, key: str, get: BlockGetter | NodeLoader, *, verify_hashes: bool = True
) -> Cid | None:
    """The value stored under ``key``, or ``None``; reads one node per layer.

    ``get`` may be a :class:`NodeLoader` already in use (an editor's), so nodes decoded
    for the lookup are not decoded again by the edits that follow.

    Raises:
        MstStructureError: a node on the path is missing, malformed or misplaced.
        BlockHashMismatch: a block does not hash to its CID.
    """
    loader = get if isinstance(get, NodeLoader) else NodeLoader(get, verify_hashes=verify_hashes)
    want = key_layer(key)
    slot: _Slot | None = _Slot(root, None, None, None)
    while slot is not None:
        node, layer = _open(loader, slot)
        if want > layer:
            return None
        i = node.index(key)
        if i < len(node.keys) and node.keys[i] == key:
            return node.values[i]
        sub = node.subtrees[i]
        lo = node.keys[i - 1] if i else slot.lo
        hi = node.keys[i] if i < len(node.keys) else slot.hi
        slot = None if sub is None else _Slot(sub, layer - 1, lo, hi)
    return None


def _open(loader: NodeLoader, slot: _Slot) -> tuple[Node, int]:
    node = loader.load(slot.cid)
    return node, check_placement(node, slot.cid, layer=slot.layer, lo=slot.lo, hi=slot.hi)
