"""Reading a CAR while it downloads: the sink ``getRepo`` streams into.

The PDS takes about as long to send a repository as we take to hash and decode it, so
doing the two one after the other wastes half the time. :class:`CarPipeline` is the
file-like sink :meth:`XrpcClient.download` writes to; each chunk goes (through a
bounded queue, so memory stays bounded whatever the repository's size) to a thread
that reads the CAR, hash-checks every block, stores it, decodes the blocks that look
like records into the atproto JSON form, walks the MST as far as the blocks so far
allow (:mod:`._earlywalk`) and pairs node entries with checked record blocks
(:mod:`._prebuild`). Nothing done ahead is trusted before the commit's signature is
verified by the caller.

The client restarts a download from scratch after a failure mid-body by seeking the
sink back and truncating it: that aborts the current read, and the thread starts
over on the next attempt. Blocks stored by an aborted attempt were hash-checked, so
keeping them is harmless (content addressing). Once the reading thread finds the body
unusable (not a CAR, a block that does not hash to its CID), the next ``write`` raises
that error, so the download stops there instead of receiving the rest of the body.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import TracebackType

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockStore
from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch._earlywalk import MST_NODE_HEAD, EarlyWalk
from lairs_etl.atproto.fetch._prebuild import RecordPrebuilder
from lairs_etl.atproto.syntax import Did
from lairs_etl.errors import CodecError, VerificationError

__all__ = ["CarPipeline"]

_RESET = object()
_END = object()
_QUEUE_CHUNKS = 256
_STORE_BATCH_BYTES = 8 * 1024 * 1024
"""Bytes of blocks gathered before they go to the store: bounded by size, not count, so
a CAR of 1 MiB blocks holds 8 of them at a time, not thousands."""
_DECODE_AHEAD_BYTES = 16 * 1024 * 1024
"""Bytes of record-like blocks checked ahead (decoded, the value dropped) and held at most:
they may belong to untracked collections."""
_NODES_AHEAD_BYTES = 24 * 1024 * 1024
"""Encoded bytes of MST nodes held, decoded (~5x larger), awaiting their parent at most;
past it the walk is left to the end (a tree this size holds ~300,000 records)."""


class _Attempt:
    """The chunks of one download attempt, ending at a reset or at the end."""

    def __init__(self, chunks: queue.Queue[object]) -> None:
        self._chunks = chunks
        self.reset = False
        self.ended = False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get()
            if item is _RESET:
                self.reset = True
                return
            if item is _END:
                self.ended = True
                return
            yield item  # type: ignore[misc]  # only bytes besides the two markers


class CarPipeline:
    """A write-only, seekable sink that reads the CAR written to it on a thread.

    Use as a context manager around the download, then call :meth:`result`.
    """

    def __init__(self, store: BlockStore, *, walk: bool = True, did: Did | None = None) -> None:
        self.values: dict[bytes, bytes] = {}
        """Record-like blocks already checked to decode, by binary CID (whose
        hash, unlike a ``Cid``'s, is computed in C and cached)."""
        self.early: EarlyWalk | None = None
        """The MST walk done while reading (``walk=True`` and a single root)."""
        self.prebuilt: RecordPrebuilder | None = (
            RecordPrebuilder(did, self.values) if walk and did is not None else None
        )
        """The records prepared while reading, for the actor ``did`` (given with ``walk``)."""
        self._walk = walk
        self._store = store
        self._chunks: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._position = 0
        self._roots: list[Cid] | None = None
        self._error: Exception | None = None
        self._unusable: tuple[int, Exception] | None = None
        """The attempt whose body was found bad (not a CAR, a block off its hash), and why."""
        self._attempt = 0  # download attempts begun by the writer (one per reset)
        self._thread = threading.Thread(target=self._consume, name="lairs-etl-car", daemon=True)
        self._thread.start()

    # -- the file interface XrpcClient.download uses ------------------------------

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0) and offset != self._position:
            raise OSError("a CAR pipeline can only rewind to its start")
        return self._position

    def truncate(self, size: int | None = None) -> int:
        """Discard the attempt so far (the client is about to retry from scratch)."""
        if self._position:
            self._chunks.put(_RESET)
            self._position = 0
            self._attempt += 1
        return 0

    def write(self, chunk: bytes) -> int:
        unusable = self._unusable
        if unusable is not None and unusable[0] == self._attempt:
            raise unusable[1]
        if chunk:
            self._chunks.put(bytes(chunk))
            self._position += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        return None

    def __enter__(self) -> CarPipeline:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread.is_alive():
            self._chunks.put(_END)
            self._thread.join()

    def result(self) -> list[Cid]:
        """Finish reading; the CAR's roots.

        Raises:
            CarFormatError: the CAR is malformed or truncated.
            BlockHashMismatch: a block does not hash to its CID.
        """
        self._chunks.put(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._roots is not None  # set whenever no error was recorded
        return self._roots

    # -- the reading thread ---------------------------------------------------------

    def _consume(self) -> None:
        number = 0
        while True:
            attempt = _Attempt(self._chunks)
            error: Exception | None = None
            try:
                self._read(attempt)
            except Exception as exc:  # noqa: BLE001 - handed to the caller by result()
                error = exc
                if not attempt.reset and isinstance(exc, VerificationError | CodecError):
                    self._unusable = (number, exc)  # this body is bad: stop downloading it
            if not (attempt.reset or attempt.ended):
                for _ in attempt:  # keep emptying the queue so the download never blocks
                    pass
            if attempt.reset:
                number += 1
                continue  # the client starts the body over: so do we
            self._error = error
            return

    def _read(self, attempt: _Attempt) -> None:
        reader = read_car(attempt)
        store, values, decode = self._store, self.values, cbor.decode_json_form
        prebuilt = self.prebuilt
        if prebuilt is not None:
            prebuilt.new_attempt()
        early = (
            EarlyWalk(
                reader.roots[0],
                budget=_NODES_AHEAD_BYTES,
                on_entry=None if prebuilt is None else prebuilt.entry,
            )
            if self._walk and len(reader.roots) == 1
            else None
        )
        batch: list[tuple[Cid, bytes]] = []
        batched = 0
        budget = _DECODE_AHEAD_BYTES
        # Once per block: plain try/except and no repeated tests (suppress() and a call
        # per block showed in the profile).
        for cid, data in reader:
            batch.append((cid, data))
            batched += len(data)
            if data.startswith(MST_NODE_HEAD):
                if early is not None:
                    early.offer(cid, data)
            else:
                if early is not None and early.data is None:
                    early.offer(cid, data)  # the commit block, until it has come
                if budget > 0:
                    budget -= len(data)
                    raw = cid.cid_bytes
                    try:
                        decode(data)  # the check; the value is decoded again when read
                        values[raw] = data
                    except CodecError:
                        pass  # not a record after all: the walk judges it
                    else:
                        if prebuilt is not None:
                            prebuilt.block(raw)
                    if budget <= 0 and prebuilt is not None:
                        prebuilt.stop_waiting()  # no block is checked past the budget
            if batched >= _STORE_BATCH_BYTES:
                store.put_many(batch)
                batch = []
                batched = 0
        store.put_many(batch)
        if early is not None:
            early.finish()
        self.early = early
        self._roots = reader.roots
