"""Reading MST nodes through a block getter: hash-checked, decoded, cached."""

from __future__ import annotations

from collections.abc import Callable

from lairs_etl.atproto.cid import Cid, verify_block
from lairs_etl.atproto.mst.node import Node
from lairs_etl.errors import MstStructureError

__all__ = ["BlockGetter", "NodeLoader"]

BlockGetter = Callable[[Cid], bytes]
"""Returns a block's bytes, raising ``KeyError`` when it is not held (``BlockStore.get``)."""


class NodeLoader:
    """Loads nodes by CID from a :data:`BlockGetter`.

    Each block is checked against its CID (unless ``verify_hashes`` is off, for stores
    that already did) and decoded strictly. Decoded nodes are kept, so walking shared
    subtrees or editing the same path twice decodes each block once.
    """

    def __init__(self, get: BlockGetter, *, verify_hashes: bool = True) -> None:
        self._get = get
        self._verify = verify_hashes
        self._cache: dict[Cid, Node] = {}

    def load(self, cid: Cid) -> Node:
        """The node stored under ``cid``.

        Raises:
            MstStructureError: the link is not a dag-cbor CID, the block is missing, or
                the node is malformed.
            BlockHashMismatch: the block's bytes do not hash to ``cid``.
        """
        node = self._cache.get(cid)
        if node is not None:
            return node
        if not cid.is_cidv1_dag_cbor_sha256_32():
            raise MstStructureError("MST node link is not a dag-cbor sha2-256 CIDv1", cid=cid.encode())
        try:
            data = self._get(cid)
        except KeyError as exc:
            raise MstStructureError("MST node block is missing", cid=cid.encode()) from exc
        if self._verify:
            verify_block(cid, data)
        node = Node.decode(data, cid)
        self._cache[cid] = node
        return node

    def remember(self, node: Node) -> Node:
        """Cache a node made locally (its CID is computed, so it needs no check)."""
        self._cache[node.cid] = node
        return node
