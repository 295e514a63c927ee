"""Checks that need a node's place in the tree: its layer and its key range.

A parent fixes, for each subtree link, the layer the child must sit on (one below its
own: links never skip a layer) and the open key interval the child's keys must fall in
(between the parent's neighbouring keys). Checking both at every node is what makes the
tree's global key order and layering hold without ever holding the whole tree, which
is what lets a partial walk verify what it fetched.
"""

from __future__ import annotations

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.node import Node
from lairs_etl.errors import MstStructureError

__all__ = ["check_placement", "child_ranges"]


def check_placement(node: Node, cid: Cid, *, layer: int | None, lo: str | None, hi: str | None) -> int:
    """Check ``node`` against the slot its parent gives it; return the node's layer.

    ``layer`` is ``None`` for the root, whose layer is read off its own keys. ``lo`` and
    ``hi`` are exclusive bounds (``None``: unbounded).

    Raises:
        MstStructureError: wrong layer, keys outside the range, an empty node anywhere
            but an empty tree's root, an untrimmed root, or subtrees below layer 0.
    """
    keys = node.keys
    if not keys:
        if node.subtrees[0] is None:
            if layer is None:
                return 0  # the empty tree
            raise MstStructureError("empty MST node below the root", cid=cid.encode())
        if layer is None:
            raise MstStructureError("MST root is an empty node pointing to a subtree", cid=cid.encode())
    else:
        own = node.layer
        assert own is not None  # keys is non-empty
        if layer is None:
            layer = own
        elif own != layer:
            raise MstStructureError(f"MST node on layer {own} where layer {layer} belongs", cid=cid.encode())
        if (lo is not None and keys[0] <= lo) or (hi is not None and keys[-1] >= hi):
            raise MstStructureError("MST node keys fall outside the range its parent gives", cid=cid.encode())
    if layer == 0 and any(t is not None for t in node.subtrees):
        raise MstStructureError("MST node on layer 0 links to a subtree", cid=cid.encode())
    return layer


def child_ranges(node: Node, lo: str | None, hi: str | None) -> list[tuple[str | None, str | None]]:
    """The open key interval of each subtree slot of ``node`` (same order as ``subtrees``)."""
    bounds: list[str | None] = [lo, *node.keys, hi]
    return [(bounds[i], bounds[i + 1]) for i in range(len(node.subtrees))]
