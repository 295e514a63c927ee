"""Walking a repository's MST while its CAR is still arriving.

``getRepo`` sends blocks in storage order, not tree order: a node often arrives before
its parent. :class:`EarlyWalk` keeps the node blocks as they come and, every few
hundred, feeds them to a :class:`~lairs_etl.atproto.mst.TreeWalk` (which takes only
the nodes it currently wants), so by the end of the download most of the tree has been
checked. Each node is decoded as it arrives (decoding needs no context), so what
is left for the walk, whenever its parents come, is the placement checks; and each
node's entries are reported to ``on_entry`` at once, so the records can be prepared
during the download too (:mod:`._prebuild`). It is only a head start: its leaves are
used once the commit's signature has been verified, its errors are raised only then,
and when it cannot finish (a node missing, the size budget spent) the ``car`` mode
walks the block store instead.
"""

from __future__ import annotations

from collections.abc import Callable

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.commit import parse_commit
from lairs_etl.atproto.mst import Node, TreeWalk
from lairs_etl.errors import LairsError, MstStructureError

__all__ = ["MST_NODE_HEAD", "EarlyWalk"]

MST_NODE_HEAD = b"\xa2ae"
"""Every MST node's encoding starts so (a map of two, first key ``e``); records do not."""

_FEED_EVERY = 256


class EarlyWalk:
    """A full MST walk fed from a CAR stream in any block order.

    ``error`` holds the structure error the walk met, if any (raise it only after the
    commit is verified); :meth:`leaves` is None unless the walk completed.
    """

    def __init__(
        self, commit_cid: Cid, *, budget: int, on_entry: Callable[[str, Cid], None] | None = None
    ) -> None:
        self.commit_cid = commit_cid
        self.data: Cid | None = None
        """The MST root named by the commit block (not yet signature-checked)."""
        self.error: LairsError | None = None
        self._budget = budget
        self._walk: TreeWalk | None = None
        self._on_entry = on_entry
        self._nodes: dict[Cid, Node] = {}
        self._malformed: dict[Cid, bytes] = {}
        """Node-like blocks that do not decode: the walk reports them if it reaches them."""
        self._fresh = 0
        self._given_up = False
        self.walked: list[Cid] = []
        """Every node the walk verified: the whole tree, once :meth:`leaves` is not None
        (their bytes are in the caller's block store: not held twice)."""

    def offer(self, cid: Cid, data: bytes) -> None:
        """Take one block from the stream."""
        if self._given_up or self.error is not None:
            return
        if data.startswith(MST_NODE_HEAD):
            self._fresh += 1
            self._budget -= len(data)
            if self._budget < 0:
                self._give_up()
                return
            try:
                node = Node.decode(data, cid)
            except MstStructureError:
                self._malformed[cid] = data
            else:
                self._nodes[cid] = node
                if self._on_entry is not None:
                    for key, value in zip(node.keys, node.values, strict=True):
                        self._on_entry(key, value)
        elif self.data is None and cid == self.commit_cid:  # CID equality is a Python call
            try:
                self.data = parse_commit(data).data
            except LairsError:
                self._give_up()  # the main thread reports what is wrong with the commit
                return
            self._walk = TreeWalk(self.data, verify_hashes=False)
        if self._walk is not None and self._fresh >= _FEED_EVERY:
            self._advance()

    def finish(self) -> None:
        """Feed what is left once the stream has ended."""
        if self._walk is not None and not self._given_up and self.error is None:
            self._advance()

    def leaves(self) -> list[tuple[str, Cid]] | None:
        """Every leaf in key order, if the walk completed without error."""
        walk = self._walk
        if walk is None or self._given_up or self.error is not None or not walk.done:
            return None
        return walk.leaves()

    def _advance(self) -> None:
        walk = self._walk
        assert walk is not None
        self._fresh = 0
        try:
            while not walk.done:
                before = walk.nodes_verified
                for cid in walk.feed_nodes(self._nodes):
                    # Walked: drop it, so what is held is the frontier, not the whole tree.
                    self._budget += len(self._nodes.pop(cid).encode())
                    self.walked.append(cid)
                if self._malformed:
                    walk.feed(self._malformed)
                if walk.nodes_verified == before:
                    return
        except LairsError as exc:
            self.error = exc

    def _give_up(self) -> None:
        self._given_up = True
        self._nodes.clear()
        self._malformed.clear()
        self.walked.clear()
        self._walk = None
