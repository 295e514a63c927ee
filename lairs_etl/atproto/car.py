"""CARv1 streams: a verifying streaming reader and a writer.

A CAR is ``varint(len) header`` then ``varint(len) cid block`` sections; the header is
DAG-CBOR ``{"version": 1, "roots": [cid, ...]}``. The reader pulls chunks from a file
or an iterator of ``bytes`` (e.g. ``httpx.Response.iter_bytes()``), so a repository of
hundreds of MB passes through without being held whole; each block is checked against
its CID as it goes by. The framing is parsed here, not by a library, because it is
tiny and that keeps the stream lazy.

Only the CIDs atproto uses (CIDv1, sha2-256, dag-cbor or raw) are accepted in sections:
anything else could not be verified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import BlockHashMismatch, CarFormatError, CodecError

__all__ = ["MAX_BLOCK_SIZE", "CarReader", "CarSource", "Readable", "Writable", "read_car", "write_car"]

MAX_BLOCK_SIZE = cbor.MAX_BLOCK_SIZE
"""Largest block a reader accepts by default; a bigger section length is refused unread."""

_CHUNK = 1 << 20
_CID_LEN = 36
_CID_PREFIXES = frozenset((b"\x01\x71\x12\x20", b"\x01\x55\x12\x20"))
_sha256 = hashlib.sha256


@runtime_checkable
class Readable(Protocol):
    """A binary file opened for reading (any object with ``read(size) -> bytes``)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...


class Writable(Protocol):
    """A binary file opened for writing (any object with ``write(bytes)``)."""

    def write(self, data: bytes, /) -> object:
        """Write all of ``data``."""
        ...


CarSource = Readable | Iterable[bytes] | bytes | bytearray | memoryview
"""What :func:`read_car` reads: a binary file, an iterator of chunks, or all the bytes."""


class _Chunks:
    """A byte buffer refilled from a chunk iterator; ``buf[pos:]`` is the unread part."""

    __slots__ = ("_chunks", "buf", "consumed", "pos")

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.buf = b""
        self.pos = 0
        self.consumed = 0  # bytes dropped from the front of buf so far

    def fill(self, need: int) -> bool:
        """Make ``need`` unread bytes available; False if the stream ends first."""
        if len(self.buf) - self.pos >= need:
            return True
        rest = self.buf[self.pos :]
        parts = [rest] if rest else []
        have = len(rest)
        for chunk in self._chunks:
            if chunk:
                parts.append(bytes(chunk))
                have += len(chunk)
                if have >= need:
                    break
        self.consumed += self.pos
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)  # no copy of a lone chunk
        self.pos = 0
        return have >= need


def _chunks_of(source: CarSource) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return iter((bytes(source),))
    if isinstance(source, Readable):  # checked first: files are iterable too (by lines)
        read = source.read
        return iter(lambda: read(_CHUNK), b"")
    return iter(source)


class CarReader:
    """The roots of a CAR and a one-shot iterator over its ``(Cid, bytes)`` blocks.

    Iterating raises :class:`~lairs_etl.errors.CarFormatError` on truncation or bad
    framing and, when ``verify`` is on, :class:`~lairs_etl.errors.BlockHashMismatch`
    naming the CID whose bytes do not hash to it. Errors of the underlying source
    (network, file) propagate unchanged.
    """

    def __init__(self, stream: _Chunks, roots: list[Cid], *, verify: bool, max_block_size: int) -> None:
        self.roots = roots
        self.blocks_read = 0
        self._stream = stream
        self._verify = verify
        self._max_section = max_block_size + _CID_LEN
        self._started = False

    @property
    def bytes_read(self) -> int:
        """Bytes of the CAR consumed so far (header included)."""
        return self._stream.consumed + self._stream.pos

    def expect_root(self, cid: Cid) -> None:
        """Check that the CAR has exactly one root and that it is ``cid``.

        Raises:
            CarFormatError: other roots (the server sent another repository state).
        """
        if self.roots != [cid]:
            shown = ", ".join(root.encode() for root in self.roots) or "none"
            raise CarFormatError(f"CAR root is {shown}, expected {cid.encode()}", cid=cid.encode())

    def __iter__(self) -> Iterator[tuple[Cid, bytes]]:
        if self._started:
            raise CarFormatError("a CAR stream can be iterated only once")
        self._started = True
        return self._blocks()

    def _blocks(self) -> Iterator[tuple[Cid, bytes]]:
        stream, verify, max_section = self._stream, self._verify, self._max_section
        while True:
            buf, pos = stream.buf, stream.pos
            if pos >= len(buf):
                if not stream.fill(1):
                    return
                buf, pos = stream.buf, 0
            size = buf[pos]
            if size < 0x80:  # inline fast paths: 1- and 2-byte lengths cover blocks < 16 KiB
                pos += 1
            elif pos + 1 < len(buf) and 0 < buf[pos + 1] < 0x80:
                size = (size & 0x7F) | (buf[pos + 1] << 7)
                pos += 2
            else:
                size, pos = _read_varint(stream, buf, pos)
                buf = stream.buf  # a refill inside the varint replaces the buffer
            if size > max_section or size < _CID_LEN:
                raise CarFormatError(f"CAR section of {size} bytes is out of bounds")
            end = pos + size
            if end > len(buf):
                stream.pos = pos
                if not stream.fill(size):
                    raise CarFormatError("CAR stream truncated inside a block")
                buf, pos, end = stream.buf, 0, size
            cid_bytes = buf[pos : pos + _CID_LEN]
            if cid_bytes[:4] not in _CID_PREFIXES:
                raise CarFormatError(f"unsupported CID in CAR section: {cid_bytes[:4].hex()}")
            data = buf[pos + _CID_LEN : end]
            stream.pos = end
            if verify and _sha256(data).digest() != cid_bytes[4:]:
                cid = Cid(cid_bytes)
                raise BlockHashMismatch("CAR block does not hash to its CID", cid=cid.encode())
            self.blocks_read += 1
            yield Cid(cid_bytes), data


def _read_varint(stream: _Chunks, buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint at ``buf[pos]``; returns (value, next position)."""
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value = shift = 0
    while True:
        if pos >= len(buf):
            stream.pos = pos
            if not stream.fill(1):
                raise CarFormatError("CAR stream truncated inside a length prefix")
            buf, pos = stream.buf, 0
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift:
                raise CarFormatError("CAR length prefix is not minimally encoded")
            stream.buf, stream.pos = buf, pos
            return value, pos
        shift += 7
        if shift > 63:
            raise CarFormatError("CAR length prefix is too long")


def read_car(
    source: CarSource,
    *,
    verify: bool = True,
    max_block_size: int = MAX_BLOCK_SIZE,
    expected_root: Cid | None = None,
) -> CarReader:
    """Open a CARv1 stream: read and check its header now, its blocks when iterated.

    ``roots`` may be empty (``com.atproto.sync.getBlocks`` sends no root).

    Raises:
        CarFormatError: missing, truncated or malformed header, version other than 1,
            or (with ``expected_root``) a different root.
    """
    stream = _Chunks(_chunks_of(source))
    if not stream.fill(1):
        raise CarFormatError("empty CAR stream")
    size, pos = _read_varint(stream, stream.buf, 0)
    stream.pos = pos
    if size == 0 or size > max_block_size:
        raise CarFormatError(f"CAR header of {size} bytes is out of bounds")
    if not stream.fill(size):
        raise CarFormatError("CAR stream truncated inside the header")
    header_bytes = stream.buf[stream.pos : stream.pos + size]
    stream.pos += size
    reader = CarReader(stream, _parse_header(header_bytes), verify=verify, max_block_size=max_block_size)
    if expected_root is not None:
        reader.expect_root(expected_root)
    return reader


def _parse_header(data: bytes) -> list[Cid]:
    try:
        header = cbor.decode(data)
    except CodecError as exc:
        raise CarFormatError(f"CAR header is not DAG-CBOR: {exc.message}") from exc
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CarFormatError("CAR header is not a CARv1 header (need version 1)")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(root, Cid) for root in roots):
        raise CarFormatError("CAR header roots must be a list of CIDs")
    return roots


def write_car(sink: Writable, roots: Iterable[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> int:
    """Write a CARv1 stream of ``blocks`` under ``roots``; returns the bytes written.

    Blocks are written as given: callers hash them (``cid_for_dag_cbor``) when building.
    """
    header = cbor.encode({"version": 1, "roots": list(roots)})
    pending = [_varint(len(header)), header]
    written = 0
    pending_size = len(header) + len(pending[0])
    for cid, data in blocks:
        cid_bytes = bytes(cid)
        prefix = _varint(len(cid_bytes) + len(data))
        pending += (prefix, cid_bytes, data)
        pending_size += len(prefix) + len(cid_bytes) + len(data)
        if pending_size >= _CHUNK:
            sink.write(b"".join(pending))
            written += pending_size
            pending, pending_size = [], 0
    sink.write(b"".join(pending))
    return written + pending_size


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
