"""Incremental edits: put or delete one key in an existing tree, copy-on-write.

Only the nodes on the path to the key (plus those a split or merge touches) are
rewritten; everything else is shared with the old tree by CID. The result is exactly
the tree :func:`~lairs_etl.atproto.mst.build.build` would make from the new key set,
whatever the order of edits, which the tests check against the bulk builder.
"""

from __future__ import annotations

from collections.abc import Iterable

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.check import check_placement
from lairs_etl.atproto.mst.keys import check_key, key_layer
from lairs_etl.atproto.mst.loader import BlockGetter, NodeLoader
from lairs_etl.atproto.mst.node import EMPTY_ROOT, Node
from lairs_etl.atproto.mst.walk import lookup
from lairs_etl.errors import ConfigError

__all__ = ["MstEditor"]


class MstEditor:
    """Edits trees whose nodes are read through ``get``; new nodes are kept in memory.

    Each call takes a root CID and returns the new root CID (the same CID when nothing
    changed: putting a key with its current value, deleting an absent key). Nodes the
    editor creates are readable by later calls, so edits chain without storing blocks
    in between; :meth:`new_blocks` hands over the ones the final tree needs.
    """

    def __init__(self, get: BlockGetter, *, verify_hashes: bool = True) -> None:
        self._created: dict[Cid, bytes] = {EMPTY_ROOT: Node.empty().encode()}
        self._loader = NodeLoader(self._read_through(get), verify_hashes=verify_hashes)

    def _read_through(self, get: BlockGetter) -> BlockGetter:
        created = self._created

        def read(cid: Cid) -> bytes:
            data = created.get(cid)
            return get(cid) if data is None else data

        return read

    def get(self, root: Cid, key: str) -> Cid | None:
        """The value under ``key`` in the tree at ``root`` (through the edits' node cache)."""
        return lookup(root, key, self._loader)

    @property
    def blocks(self) -> dict[Cid, bytes]:
        """Every node block created so far, including ones later edits made obsolete."""
        return dict(self._created)

    def new_blocks(self, root: Cid) -> dict[Cid, bytes]:
        """The created node blocks reachable from ``root``: what a commit must add."""
        created = self._created
        out: dict[Cid, bytes] = {}
        pending = [root]
        while pending:
            cid = pending.pop()
            data = created.get(cid)
            if data is None or cid in out:
                continue  # an old node: its whole subtree is old too
            out[cid] = data
            pending.extend(t for t in self._loader.load(cid).subtrees if t is not None)
        return out

    def put(self, root: Cid, key: str, value: Cid) -> Cid:
        """Set ``key`` to ``value``; returns the new root.

        Raises:
            InvalidIdentifier: ``key`` is not a valid MST key.
            ConfigError: ``value`` is not a ``Cid``.
            MstStructureError: the existing tree is malformed or incomplete.
        """
        check_key(key)
        if not isinstance(value, Cid):
            raise ConfigError(f"MST value for {key!r} is not a Cid: {value!r:.80}")
        node = self._loader.load(root)
        layer = check_placement(node, root, layer=None, lo=None, hi=None)
        if node.is_empty:
            return self._store(Node((key,), (value,), (None, None)))
        new = self._put(node, layer, key, value, key_layer(key))
        return root if new is node else self._store(new)

    def apply(self, root: Cid, writes: Iterable[tuple[str, Cid | None]]) -> Cid:
        """Apply ``(key, value)`` writes in order (``None`` deletes); returns the new root.

        ``((c.key, c.new) for c in diff(a, b, get))`` replays a diff onto ``a``.

        Raises:
            InvalidIdentifier: a key is not a valid MST key.
            ConfigError: a value is neither a ``Cid`` nor ``None``.
            MstStructureError: the existing tree is malformed or incomplete.
        """
        for key, value in writes:
            root = self.delete(root, key) if value is None else self.put(root, key, value)
        return root

    def delete(self, root: Cid, key: str) -> Cid:
        """Remove ``key`` (absent keys are a no-op); returns the new root.

        Raises:
            InvalidIdentifier: ``key`` is not a valid MST key.
            MstStructureError: the existing tree is malformed or incomplete.
        """
        check_key(key)
        node = self._loader.load(root)
        layer = check_placement(node, root, layer=None, lo=None, hi=None)
        if node.is_empty:
            return root
        new = self._delete(root, layer, key, key_layer(key))
        if new == root:
            return root
        # The spec forbids a root with no keys that only points down: trim such tops.
        while new is not None:
            top = self._loader.load(new)
            if top.keys or top.subtrees[0] is None:
                return new
            new = top.subtrees[0]
        return EMPTY_ROOT

    def _load(self, cid: Cid, layer: int) -> Node:
        node = self._loader.load(cid)
        check_placement(node, cid, layer=layer, lo=None, hi=None)
        return node

    def _store(self, node: Node) -> Cid:
        cid = node.cid
        self._created[cid] = node.encode()
        self._loader.remember(node)
        return cid

    def _store_opt(self, node: Node) -> Cid | None:
        return None if node.is_empty else self._store(node)

    def _wrap(self, cid: Cid | None, layer: int, target: int) -> Cid | None:
        """Lift a subtree on ``layer`` to ``target`` through key-less nodes."""
        while cid is not None and layer < target:
            cid = self._store(Node((), (), (cid,)))
            layer += 1
        return cid

    def _put(self, node: Node, layer: int, key: str, value: Cid, key_lay: int) -> Node:
        """``node`` (on ``layer``) with the key set; the same object when unchanged."""
        keys, subtrees = node.keys, node.subtrees
        if key_lay > layer:
            left, right = self._split(node, layer, key)
            top = key_lay - 1
            return Node((key,), (value,), (self._wrap(left, layer, top), self._wrap(right, layer, top)))
        i = node.index(key)
        if key_lay == layer:
            if i < len(keys) and keys[i] == key:
                if node.values[i] == value:
                    return node
                return Node(keys, (*node.values[:i], value, *node.values[i + 1 :]), subtrees)
            lsub, rsub = self._split_slot(subtrees[i], layer - 1, key)
            return Node(
                (*keys[:i], key, *keys[i:]),
                (*node.values[:i], value, *node.values[i:]),
                (*subtrees[:i], lsub, rsub, *subtrees[i + 1 :]),
            )
        child = subtrees[i]
        if child is None:
            new_child = self._wrap(self._store(Node((key,), (value,), (None, None))), key_lay, layer - 1)
        else:
            old = self._load(child, layer - 1)
            new = self._put(old, layer - 1, key, value, key_lay)
            if new is old:
                return node
            new_child = self._store(new)
        return Node(keys, node.values, (*subtrees[:i], new_child, *subtrees[i + 1 :]))

    def _split(self, node: Node, layer: int, key: str) -> tuple[Cid | None, Cid | None]:
        """The parts of ``node``'s subtree below and above ``key`` (not in the tree)."""
        i = node.index(key)
        lsub, rsub = self._split_slot(node.subtrees[i], layer - 1, key)
        left = Node(node.keys[:i], node.values[:i], (*node.subtrees[:i], lsub))
        right = Node(node.keys[i:], node.values[i:], (rsub, *node.subtrees[i + 1 :]))
        return self._store_opt(left), self._store_opt(right)

    def _split_slot(self, cid: Cid | None, layer: int, key: str) -> tuple[Cid | None, Cid | None]:
        return (None, None) if cid is None else self._split(self._load(cid, layer), layer, key)

    def _delete(self, cid: Cid, layer: int, key: str, key_lay: int) -> Cid | None:
        """The subtree at ``cid`` without ``key``; ``cid`` itself when it was absent."""
        if key_lay > layer:
            return cid
        node = self._loader.load(cid)
        keys, subtrees = node.keys, node.subtrees
        i = node.index(key)
        if key_lay < layer:
            child = subtrees[i]
            if child is None:
                return cid
            self._load(child, layer - 1)
            new_child = self._delete(child, layer - 1, key, key_lay)
            if new_child == child:
                return cid
            return self._store_opt(Node(keys, node.values, (*subtrees[:i], new_child, *subtrees[i + 1 :])))
        if i == len(keys) or keys[i] != key:
            return cid
        merged = self._merge(subtrees[i], subtrees[i + 1], layer - 1)
        return self._store_opt(
            Node(
                (*keys[:i], *keys[i + 1 :]),
                (*node.values[:i], *node.values[i + 1 :]),
                (*subtrees[:i], merged, *subtrees[i + 2 :]),
            )
        )

    def _merge(self, left: Cid | None, right: Cid | None, layer: int) -> Cid | None:
        """Join two adjacent subtrees on ``layer`` whose separating key was removed."""
        if left is None:
            return right
        if right is None:
            return left
        a, b = self._load(left, layer), self._load(right, layer)
        seam = self._merge(a.subtrees[-1], b.subtrees[0], layer - 1)
        return self._store_opt(
            Node(a.keys + b.keys, a.values + b.values, (*a.subtrees[:-1], seam, *b.subtrees[1:]))
        )
