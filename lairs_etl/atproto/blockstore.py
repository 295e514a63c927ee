"""Block stores: content-addressed maps from :class:`Cid` to block bytes.

The contract, shared by every implementation and checked by one test suite:

* ``get`` of a missing CID raises :class:`KeyError` (a plain one, like a ``dict``: the
  MST walker turns it into the error that fits its context);
* ``put`` of a CID already held is a no-op (content addressing makes it the same
  block), ``put_many`` returns how many blocks were new;
* ``get_many`` returns only the blocks held: a caller asking which are missing compares
  keys instead of catching errors one by one;
* stores do not check hashes themselves; wrap one in :class:`VerifyingBlockStore` when
  the bytes come from outside (a CAR reader with ``verify=True`` already checked them).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from types import TracebackType
from typing import Protocol, runtime_checkable

from lairs_etl.atproto.cid import Cid, verify_block

__all__ = ["BlockSource", "BlockStore", "DiskBlockStore", "MemoryBlockStore", "VerifyingBlockStore"]


class BlockSource(Protocol):
    """The read side of block storage: all that reading a tree needs.

    A repository's pack set is one, as is any :class:`BlockStore`; code that only reads
    takes this, so it runs on either.
    """

    def get(self, cid: Cid) -> bytes:
        """The block's bytes; raises ``KeyError`` if it is not held."""
        ...

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``; missing ones are simply absent."""
        ...


@runtime_checkable
class BlockStore(BlockSource, Protocol):
    """What the MST, the commit verifier and the fetchers need from block storage."""

    def put(self, cid: Cid, data: bytes) -> None:
        """Store a block; a CID already held is left as it is."""
        ...

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Store blocks; returns how many were not held before."""
        ...

    def has(self, cid: Cid) -> bool:
        """Whether the block is held."""
        ...

    def __contains__(self, cid: object) -> bool: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Cid]: ...


class MemoryBlockStore:
    """A dict-backed store: the in-memory twin for tests and small repositories."""

    def __init__(self, blocks: Mapping[Cid, bytes] | None = None) -> None:
        self._blocks: dict[Cid, bytes] = dict(blocks or {})

    def get(self, cid: Cid) -> bytes:
        """The block's bytes; raises ``KeyError`` if it is not held."""
        return self._blocks[cid]

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``; missing ones are simply absent."""
        blocks = self._blocks
        return {cid: blocks[cid] for cid in cids if cid in blocks}

    def put(self, cid: Cid, data: bytes) -> None:
        """Store a block; a CID already held is left as it is."""
        self._blocks.setdefault(cid, bytes(data))

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Store blocks; returns how many were not held before."""
        held = self._blocks
        before = len(held)
        for cid, data in blocks:
            held.setdefault(cid, bytes(data))
        return len(held) - before

    def has(self, cid: Cid) -> bool:
        """Whether the block is held."""
        return cid in self._blocks

    def __contains__(self, cid: object) -> bool:
        return cid in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[Cid]:
        return iter(list(self._blocks))


class DiskBlockStore:
    """A store in one SQLite file, for repositories too big to keep in memory.

    Blocks are keyed by their binary CID; re-opening the same path finds the blocks
    already held, so an incremental fetch only adds what is new. One connection is
    shared under a lock, so the store may be used from several threads. Close it (or
    use it as a context manager) to release the file.
    """

    _BATCH = 2000

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS blocks (cid BLOB PRIMARY KEY, data BLOB NOT NULL)")

    def close(self) -> None:
        """Release the database file; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> DiskBlockStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, cid: Cid) -> bytes:
        """The block's bytes; raises ``KeyError`` if it is not held."""
        with self._lock:
            row = self._db.execute("SELECT data FROM blocks WHERE cid = ?", (bytes(cid),)).fetchone()
        if row is None:
            raise KeyError(cid)
        data: bytes = row[0]
        return data

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``; missing ones are simply absent."""
        wanted = [bytes(cid) for cid in cids]
        found: dict[Cid, bytes] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                marks = ",".join("?" * len(batch))
                query = f"SELECT cid, data FROM blocks WHERE cid IN ({marks})"  # noqa: S608  # only "?" marks
                for raw, data in self._db.execute(query, batch):
                    found[Cid(raw)] = data
        return found

    def put(self, cid: Cid, data: bytes) -> None:
        """Store a block; a CID already held is left as it is."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?)", (bytes(cid), bytes(data)))

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Store blocks in transactions of a few thousand; returns how many were new."""
        added = 0
        batch: list[tuple[bytes, bytes]] = []
        for cid, data in blocks:
            batch.append((bytes(cid), data))
            if len(batch) >= self._BATCH:
                added += self._insert(batch)
                batch = []
        if batch:
            added += self._insert(batch)
        return added

    def _insert(self, batch: list[tuple[bytes, bytes]]) -> int:
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?)", batch)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def has(self, cid: Cid) -> bool:
        """Whether the block is held."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM blocks WHERE cid = ?", (bytes(cid),)).fetchone()
        return row is not None

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, Cid) and self.has(cid)

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM blocks").fetchone()
        return int(count)

    def __iter__(self) -> Iterator[Cid]:
        return self._iter_pages()

    def _iter_pages(self) -> Iterator[Cid]:
        """Page through the keys so iterating a huge store neither holds the lock nor all CIDs."""
        last = b""
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT cid FROM blocks WHERE cid > ? ORDER BY cid LIMIT 10000", (last,)
                ).fetchall()
            if not rows:
                return
            for (raw,) in rows:
                yield Cid(raw)
            last = rows[-1][0]


class VerifyingBlockStore:
    """Wraps a store so that every block put is checked against its CID first.

    Reads pass through unchecked: the inner store only ever received verified blocks.
    ``put``/``put_many`` raise :class:`~lairs_etl.errors.BlockHashMismatch` and store
    nothing from the offending block on (earlier blocks of a ``put_many`` may be kept).
    """

    def __init__(self, inner: BlockStore) -> None:
        self.inner = inner

    def get(self, cid: Cid) -> bytes:
        """The block's bytes; raises ``KeyError`` if it is not held."""
        return self.inner.get(cid)

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The blocks held among ``cids``; missing ones are simply absent."""
        return self.inner.get_many(cids)

    def put(self, cid: Cid, data: bytes) -> None:
        """Check then store a block.

        Raises:
            BlockHashMismatch: ``data`` does not hash to ``cid``.
        """
        verify_block(cid, data)
        self.inner.put(cid, data)

    def put_many(self, blocks: Iterable[tuple[Cid, bytes]]) -> int:
        """Check then store blocks; returns how many were new.

        Raises:
            BlockHashMismatch: a block does not hash to its CID.
        """
        return self.inner.put_many(_verified(blocks))

    def has(self, cid: Cid) -> bool:
        """Whether the block is held."""
        return self.inner.has(cid)

    def __contains__(self, cid: object) -> bool:
        return cid in self.inner

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Cid]:
        return iter(self.inner)


def _verified(blocks: Iterable[tuple[Cid, bytes]]) -> Iterator[tuple[Cid, bytes]]:
    for cid, data in blocks:
        verify_block(cid, data)
        yield cid, data
