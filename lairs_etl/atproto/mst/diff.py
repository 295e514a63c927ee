"""Record-level diff of two trees, reading only the nodes that differ.

Both trees are walked in key order at once, each as a stream of leaves and
not-yet-opened subtrees. Two subtrees with the same CID hold the same keys and values,
so they are skipped without being read; a subtree is opened only when the other side's
head could fall inside it. The cost is therefore proportional to the number of changed
nodes (times the tree depth), never to the size of the trees.

Invariant behind every step: each key already consumed on either side is smaller than
every key not yet consumed on either side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.check import check_placement, child_ranges
from lairs_etl.atproto.mst.loader import BlockGetter, NodeLoader

__all__ = ["Change", "diff"]


@dataclass(frozen=True, slots=True)
class Change:
    """One key whose value differs: ``old`` ``None`` = added, ``new`` ``None`` = removed."""

    key: str
    old: Cid | None
    new: Cid | None


@dataclass(frozen=True, slots=True)
class _Sub:
    """An unopened subtree and what its parent promises: layer and open key range."""

    cid: Cid
    layer: int | None
    lo: str | None
    hi: str | None


_Item = _Sub | tuple[str, Cid]


class _Cursor:
    """One tree as a stack of items; the head (next in key order) is on top."""

    def __init__(self, loader: NodeLoader, root: Cid) -> None:
        self._loader = loader
        self.stack: list[_Item] = [_Sub(root, None, None, None)]
        self.open()

    @property
    def head(self) -> _Item | None:
        return self.stack[-1] if self.stack else None

    def open(self) -> None:
        """Replace the head subtree by its leaves and child subtrees."""
        sub = self.stack.pop()
        assert isinstance(sub, _Sub)
        node = self._loader.load(sub.cid)
        layer = check_placement(node, sub.cid, layer=sub.layer, lo=sub.lo, hi=sub.hi)
        items: list[_Item] = []
        for i, (lo, hi) in enumerate(child_ranges(node, sub.lo, sub.hi)):
            if i:
                items.append((node.keys[i - 1], node.values[i - 1]))
            child = node.subtrees[i]
            if child is not None:
                items.append(_Sub(child, layer - 1, lo, hi))
        self.stack.extend(reversed(items))


def diff(old_root: Cid, new_root: Cid, get: BlockGetter, *, verify_hashes: bool = True) -> Iterator[Change]:
    """Yield, in key order, the changes that turn the ``old_root`` tree into ``new_root``'s.

    Raises:
        MstStructureError: a node read is missing, malformed or misplaced.
        BlockHashMismatch: a block read does not hash to its CID.
    """
    if old_root == new_root:
        return
    loader = NodeLoader(get, verify_hashes=verify_hashes)
    a, b = _Cursor(loader, old_root), _Cursor(loader, new_root)
    while True:
        x, y = a.head, b.head
        if x is None and y is None:
            return
        if isinstance(x, _Sub) and isinstance(y, _Sub):
            if x.cid == y.cid:
                a.stack.pop()
                b.stack.pop()
            else:  # open the higher one first (both when level): they may align below
                x_layer, y_layer = x.layer or 0, y.layer or 0
                if x_layer >= y_layer:
                    a.open()
                if y_layer >= x_layer:
                    b.open()
        elif isinstance(x, _Sub):
            assert not isinstance(y, _Sub)
            if y is not None and x.lo is not None and y[0] <= x.lo:
                b.stack.pop()  # y sorts before all of x, so it is not in the old tree
                yield Change(y[0], None, y[1])
            else:
                a.open()
        elif isinstance(y, _Sub):
            assert not isinstance(x, _Sub)
            if x is not None and y.lo is not None and x[0] <= y.lo:
                a.stack.pop()
                yield Change(x[0], x[1], None)
            else:
                b.open()
        elif y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            a.stack.pop()
            yield Change(x[0], x[1], None)
        elif x is None or y[0] < x[0]:
            b.stack.pop()
            yield Change(y[0], None, y[1])
        else:
            a.stack.pop()
            b.stack.pop()
            if x[1] != y[1]:
                yield Change(x[0], x[1], y[1])
