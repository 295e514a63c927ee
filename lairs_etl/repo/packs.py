"""Packs: the blocks one commit adds, stored together as CARv1 objects of 16 MiB at most.

A few objects per commit instead of one per block keeps a 100 000-record commit to a
handful of writes, and a CAR is what every IPLD tool reads. A pack is named by the
SHA-256 of its bytes, so it is written once and checks itself. Readers never scan a
pack: the index (:mod:`lairs_etl.repo.packindex`) gives each block's offset and length,
and :func:`read_block` fetches it with one ranged read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from lairs_etl.atproto.car import read_car, write_car
from lairs_etl.atproto.cid import Cid, verify_block
from lairs_etl.errors import BlockHashMismatch, CarFormatError, NotFoundError, RepositoryCorruptError
from lairs_etl.repo.layout import pack_key
from lairs_etl.repo.packindex import Location
from lairs_etl.repo.storage import Storage

__all__ = ["EncodedPack", "encode_pack", "iter_pack", "read_block", "write_pack"]


@dataclass(frozen=True, slots=True)
class EncodedPack:
    """A pack's bytes, its name, and where each block's bytes start and how long they are."""

    name: str
    data: bytes
    entries: list[tuple[Cid, int, int]]


def encode_pack(roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> EncodedPack:
    """Frame ``blocks`` as a CARv1 with ``roots`` and locate each block in it."""
    listed = list(blocks)
    sink = io.BytesIO()
    write_car(sink, roots, listed)
    data = sink.getvalue()
    # Offsets follow from CARv1 framing (varint(len(cid)+len(block)) cid block), so they
    # are computed rather than parsed back; the total length checks the arithmetic.
    offset = len(data) - sum(_section_size(len(cid.cid_bytes), len(block)) for cid, block in listed)
    entries = []
    for cid, block in listed:
        cid_len = len(cid.cid_bytes)
        start = offset + _varint_size(cid_len + len(block)) + cid_len
        entries.append((cid, start, len(block)))
        offset = start + len(block)
    if offset != len(data):
        raise RepositoryCorruptError("pack framing arithmetic does not match the CAR writer")
    return EncodedPack(hashlib.sha256(data).hexdigest(), data, entries)


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _section_size(cid_len: int, block_len: int) -> int:
    return _varint_size(cid_len + block_len) + cid_len + block_len


def iter_pack(data: bytes, *, verify: bool = True) -> Iterator[tuple[Cid, int, bytes]]:
    """Every ``(cid, offset of the block's bytes, bytes)`` of a pack, in order.

    Raises:
        RepositoryCorruptError: the framing is broken or (``verify``) a block's bytes do
            not hash to its CID.
    """
    try:
        reader = read_car(data, verify=verify)
        for cid, block in reader:
            yield cid, reader.bytes_read - len(block), block
    except (CarFormatError, BlockHashMismatch) as exc:
        raise RepositoryCorruptError(f"damaged pack: {exc.message}", cid=exc.cid) from exc


def write_pack(storage: Storage, pack: EncodedPack) -> None:
    """Store ``pack`` under its name (atomic; rewriting the same pack is harmless).

    Raises:
        RepositoryError: the backend failed.
    """
    storage.put(pack_key(pack.name), pack.data)


def read_block(storage: Storage, cid: Cid, location: Location) -> bytes:
    """Fetch one block with a ranged read and check it against its CID.

    Raises:
        RepositoryCorruptError: the pack is missing or the bytes are not the block's.
    """
    try:
        data = storage.get_range(pack_key(location.pack), location.offset, location.offset + location.length)
    except NotFoundError as exc:
        raise RepositoryCorruptError(f"pack {location.pack} is missing", cid=cid.encode()) from exc
    try:
        verify_block(cid, data)
    except BlockHashMismatch as exc:
        raise RepositoryCorruptError(f"block in pack {location.pack} is damaged", cid=cid.encode()) from exc
    return data
