"""Verified partial tree sync: a level-by-level walk that the caller feeds with blocks.

The walk does no I/O. The caller asks :meth:`TreeWalk.wanted` for the node CIDs of the
next level, fetches them however it likes (one batched ``getBlocks``, a CAR slice, a
local store) and hands them to :meth:`TreeWalk.feed`. Each node is hash-checked, decoded
strictly and checked against its slot (layer and key range), and only the subtrees whose
range can hold a key of interest are scheduled, so syncing ``pub.layers.*`` out of a
large repository fetches the few nodes along those collections' key range.

A partial walk cannot see the whole tree; what it checks is exactly what the fetched
nodes and their parents' promises can show. The keys it returns are therefore proven:
each sits in a node reached from the root by hash links, in the slot its key belongs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lairs_etl.atproto.cid import Cid, verify_block
from lairs_etl.atproto.mst.check import check_placement, child_ranges
from lairs_etl.atproto.mst.node import Node
from lairs_etl.atproto.mst.span import KeySpan, key_filter, spans_overlap
from lairs_etl.errors import ConfigError, MstStructureError

__all__ = ["TreeWalk"]

_Slot = tuple[int | None, str | None, str | None]
"""(layer, lo, hi) a parent promises about a child: ``None`` layer for the root."""


class TreeWalk:
    """Walks the tree under ``root``, keeping keys that match one of ``prefixes`` or ``spans``.

    With neither, every key is kept (a full verified walk, fed level by level).
    Blocks fed that are not wanted are ignored, so a CAR slice can be fed whole.

    Typical use::

        walk = TreeWalk(commit_data_cid, prefixes=["pub.layers."])
        while not walk.done:
            walk.feed(fetch_blocks(walk.wanted()))
        records = walk.leaves()
    """

    def __init__(
        self,
        root: Cid,
        *,
        prefixes: Iterable[str] | None = None,
        spans: Iterable[KeySpan] | None = None,
        verify_hashes: bool = True,
    ) -> None:
        self._spans = key_filter(prefixes, spans)
        self._verify = verify_hashes
        self._pending: dict[Cid, list[_Slot]] = {root: [(None, None, None)]}
        self._leaves: list[tuple[str, Cid]] = []
        self.nodes_verified = 0
        """How many node blocks have been fed and checked so far."""

    @property
    def done(self) -> bool:
        """Whether every node the walk needs has been fed."""
        return not self._pending

    def wanted(self) -> list[Cid]:
        """The node CIDs to fetch next: the frontier of the walk, roughly in key order."""
        return list(self._pending)

    def feed(self, blocks: Mapping[Cid, bytes]) -> None:
        """Verify the wanted blocks among ``blocks`` and schedule their children.

        Wanted CIDs absent from ``blocks`` stay wanted.

        Raises:
            BlockHashMismatch: a block does not hash to its CID.
            MstStructureError: a node is malformed, or breaks its parent's promises.
        """
        arrived = [cid for cid in self._pending if cid in blocks]
        for cid in arrived:
            data = blocks[cid]
            _check_link(cid)
            if self._verify:
                verify_block(cid, data)
            self._take(cid, Node.decode(data, cid))

    def feed_nodes(self, nodes: Mapping[Cid, Node]) -> list[Cid]:
        """:meth:`feed` for nodes already decoded, by :meth:`Node.decode` with their CID.

        Lets a caller decode nodes as they arrive in any order (decoding needs no
        context) and leave only the placement checks to the walk. With
        ``verify_hashes``, each node's bytes are still checked against its CID.
        Returns the CIDs taken, which the caller need not keep any longer. Unlike
        :meth:`feed`, it goes down through every level ``nodes`` holds in one call.

        Raises:
            BlockHashMismatch: a node's bytes do not hash to its CID.
            MstStructureError: a node breaks its parent's promises.
        """
        pending = self._pending
        stack = [cid for cid in pending if cid in nodes]
        taken = []
        while stack:
            cid = stack.pop()
            if cid not in pending:
                continue  # taken already, through another path to it
            node = nodes[cid]
            _check_link(cid)
            if self._verify:
                verify_block(cid, node.encode())
            self._take(cid, node)
            taken.append(cid)
            stack.extend(sub for sub in node.subtrees if sub is not None and sub in nodes and sub in pending)
        return taken

    def skip(self, cids: Iterable[Cid]) -> int:
        """Stop wanting ``cids``: subtrees the caller already holds, unchanged.

        A CID names its subtree's whole content, so a node the caller verified in an
        earlier walk needs neither fetching nor walking again; its keys are not among
        :meth:`leaves`. This is how an incremental walk fetches only what changed.
        Returns how many wanted nodes were dropped.
        """
        dropped = 0
        for cid in cids:
            if self._pending.pop(cid, None) is not None:
                dropped += 1
        return dropped

    def leaves(self) -> list[tuple[str, Cid]]:
        """The matching ``(key, value)`` pairs, in key order.

        Raises:
            ConfigError: the walk is not done (nodes are still wanted).
        """
        if self._pending:
            raise ConfigError(f"the tree walk still wants {len(self._pending)} node(s)")
        return sorted(self._leaves)

    def _take(self, cid: Cid, node: Node) -> None:
        for slot in self._pending.pop(cid):
            self._visit(cid, node, slot)
        self.nodes_verified += 1

    def _visit(self, cid: Cid, node: Node, slot: _Slot) -> None:
        layer, lo, hi = slot
        layer = check_placement(node, cid, layer=layer, lo=lo, hi=hi)
        spans = self._spans
        for i, (sub_lo, sub_hi) in enumerate(child_ranges(node, lo, hi)):
            if i:
                key = node.keys[i - 1]
                if spans is None or any(s.contains(key) for s in spans):
                    self._leaves.append((key, node.values[i - 1]))
            sub = node.subtrees[i]
            if sub is not None and spans_overlap(spans, sub_lo, sub_hi):
                self._pending.setdefault(sub, []).append((layer - 1, sub_lo, sub_hi))


def _check_link(cid: Cid) -> None:
    if not cid.is_cidv1_dag_cbor_sha256_32():
        raise MstStructureError("MST node link is not a dag-cbor sha2-256 CIDv1", cid=cid.encode())
