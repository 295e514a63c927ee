"""A block store that starts in memory and moves to a temporary SQLite file when large.

The ``car`` mode cannot know a repository's size before it has read it (the body is
streamed), yet a small repository should not pay for SQLite and a large one must not
sit in memory: this store decides as the bytes arrive.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from lairs_etl.atproto.blockstore import BlockStore, DiskBlockStore, MemoryBlockStore
from lairs_etl.atproto.cid import Cid

__all__ = ["SpillingBlockStore"]


class SpillingBlockStore:
    """In memory up to ``limit`` bytes of blocks, then on disk; a context manager.

    Follows the :class:`~lairs_etl.atproto.blockstore.BlockStore` contract; the disk
    file lives in a temporary directory removed on exit.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = 0
        self._inner: BlockStore = MemoryBlockStore()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._disk: DiskBlockStore | None = None

    @property
    def spilled(self) -> bool:
        """Whether the blocks moved to disk."""
        return self._disk is not None

    def get(self, cid: Cid) -> bytes:
        """The block's bytes; raises ``KeyError`` if it is not held."""
        return self._inner.get(cid)

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``; missing ones are simply absent."""
        return self._inner.get_many(cids)

    def put(self, cid: Cid, data: bytes) -> None:
        """Store a block; a CID already held is left as it is."""
        self.put_many([(cid, data)])

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Store blocks, moving everything to disk once past the limit; returns how many were new."""
        batch = list(blocks)
        self._held += sum(len(data) for _, data in batch)
        if self._disk is None and self._held > self._limit:
            self._spill()
        return self._inner.put_many(batch)

    def has(self, cid: Cid) -> bool:
        """Whether the block is held."""
        return self._inner.has(cid)

    def __contains__(self, cid: object) -> bool:
        return cid in self._inner

    def __len__(self) -> int:
        return len(self._inner)

    def __iter__(self) -> Iterator[Cid]:
        return iter(self._inner)

    def __enter__(self) -> SpillingBlockStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._disk is not None:
            self._disk.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _spill(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lairs-etl-blocks-")
        self._disk = DiskBlockStore(Path(self._tmp.name) / "blocks.sqlite")
        memory = self._inner
        self._disk.put_many((cid, memory.get(cid)) for cid in memory)
        self._inner = self._disk
