"""Block sources the repository facade reads through: an overlay and a tree prefetch.

Reads at a revision go through a :class:`PackSetReader`, whose ``get`` costs an index
probe and a ranged read per block. That is right for a lookup (one node per MST layer)
and wrong for a walk over a whole tree on S3, so :func:`prefetch_tree` loads a tree
level by level with one coalesced ``get_many`` per level. :class:`OverlayBlocks` puts
blocks made in memory (new MST nodes, fetched CAR blocks) in front of the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockSource
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import Node
from lairs_etl.errors import CodecError, NotFoundError, RepositoryCorruptError

__all__ = ["OverlayBlocks", "prefetch_paths", "prefetch_tree"]


class OverlayBlocks:
    """In-memory blocks in front of a read-only source: a full ``BlockStore``.

    Contract: ``get`` looks in memory first, then in ``base``; a block held by neither
    raises :class:`NotFoundError` (a ``KeyError``). ``put`` never writes to ``base``:
    :meth:`added` hands the new blocks to whoever stores them.
    """

    def __init__(self, base: BlockSource, blocks: Mapping[Cid, bytes] | None = None) -> None:
        self._base = base
        self._blocks: dict[Cid, bytes] = dict(blocks or {})

    def get(self, cid: Cid) -> bytes:
        """The block's bytes from memory or the base."""
        data = self._blocks.get(cid)
        if data is not None:
            return data
        try:
            return self._base.get(cid)
        except KeyError as exc:
            raise NotFoundError("block not held", cid=cid.encode()) from exc

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``, from memory or the base."""
        found: dict[Cid, bytes] = {}
        rest: list[Cid] = []
        for cid in cids:
            data = self._blocks.get(cid)
            if data is None:
                rest.append(cid)
            else:
                found[cid] = data
        if rest:
            found.update(self._base.get_many(rest))
        return found

    def put(self, cid: Cid, data: bytes) -> None:
        """Keep a block in memory (a block already held stays as it is)."""
        self._blocks.setdefault(cid, bytes(data))

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Keep blocks in memory; returns how many were new to memory."""
        before = len(self._blocks)
        for cid, data in blocks:
            self._blocks.setdefault(cid, bytes(data))
        return len(self._blocks) - before

    def has(self, cid: Cid) -> bool:
        """Whether memory or the base holds the block."""
        return cid in self._blocks or bool(self._base.get_many([cid]))

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, Cid) and self.has(cid)

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[Cid]:
        return iter(self._blocks)

    def added(self) -> dict[Cid, bytes]:
        """The blocks put in memory."""
        return dict(self._blocks)


def prefetch_tree(source: BlockSource, root: Cid, *, leaves: bool = False) -> dict[Cid, bytes]:
    """Every node block of the MST at ``root`` (and, with ``leaves``, every record block).

    One ``get_many`` per tree level, so a 100 000-key tree on S3 costs a handful of
    coalesced ranged reads instead of one request per node. The blocks are returned
    unchecked for structure: the MST walkers that consume them check every node.

    Raises:
        RepositoryCorruptError: a node is missing or does not decode.
    """
    out: dict[Cid, bytes] = {}
    level = [root]
    while level:
        fetched = source.get_many(level)
        values: list[Cid] = []
        nxt: list[Cid] = []
        for cid in level:
            data = fetched.get(cid)
            if data is None:
                raise RepositoryCorruptError("MST node block is missing", cid=cid.encode())
            out[cid] = data
            try:
                node = cbor.decode(data)
                nxt.extend(_links(node, values))
            except (CodecError, KeyError, TypeError) as exc:
                raise RepositoryCorruptError("MST node does not decode", cid=cid.encode()) from exc
        if leaves and values:
            records = source.get_many(values)
            missing = [cid for cid in values if cid not in records]
            if missing:
                raise RepositoryCorruptError("record block is missing", cid=missing[0].encode())
            out.update(records)
        level = [cid for cid in dict.fromkeys(nxt) if cid not in out]
    return out


def _links(node: dict[str, object], values: list[Cid]) -> list[Cid]:
    subtrees: list[Cid] = []
    left = node["l"]
    if isinstance(left, Cid):
        subtrees.append(left)
    entries = node["e"]
    assert isinstance(entries, list)
    for entry in entries:
        value, right = entry["v"], entry["t"]
        if isinstance(value, Cid):
            values.append(value)
        if isinstance(right, Cid):
            subtrees.append(right)
    return subtrees


def prefetch_paths(source: BlockSource, root: Cid, keys: Iterable[str]) -> dict[Cid, bytes]:
    """The nodes on the paths from ``root`` to ``keys``: what an edit of those keys reads.

    One ``get_many`` per level instead of one read per node. Nodes an edit may touch
    off these paths (the seams a delete merges) are left to be read on demand; a node
    missing here is left for the editor to report.
    """
    out: dict[Cid, bytes] = {}
    level: dict[Cid, list[str]] = {root: sorted(keys)}
    while level:
        fetched = source.get_many(level)
        nxt: dict[Cid, list[str]] = {}
        for cid, wanted in level.items():
            data = fetched.get(cid)
            if data is None:
                continue
            out[cid] = data
            node = Node.decode(data, cid)
            for key in wanted:
                sub = node.subtrees[node.index(key)]
                if sub is not None and sub not in out:
                    nxt.setdefault(sub, []).append(key)
        level = nxt
    return out
