"""Packsets: the content-addressed list of index segments that covers a repository state.

Every ref names a packset next to its commit, so reading at a tag costs a fixed
handful of requests whatever the history length:

1. the ref (1 read), 2. its packset (1 read), 3. per block: the segments are probed
newest first, each probe 1 ranged read of a fanout bucket once the segment's 2 KB
header is cached (first probe: +1), 4. the block itself (1 ranged read).

Segments are merged as commits accumulate, like a binary counter with base
:data:`MERGE_FACTOR`: a new commit's segment absorbs the newest segments while they
hold fewer than ``MERGE_FACTOR`` times its blocks. Segment sizes therefore shrink
geometrically from oldest to newest, a packset has O(log_4 N) segments (≤ 10 for a
million blocks), and each block's index entry is rewritten O(log N) times over its
life. A commit writes at most 3 objects here (pack, one segment, packset) plus its ref.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import CodecError, NotFoundError, RepositoryCorruptError
from lairs_etl.repo.layout import index_key, pack_key, packset_key
from lairs_etl.repo.packindex import (
    IndexSegment,
    Location,
    build_rows,
    cid_row,
    key_cid,
    merge_segments,
)
from lairs_etl.repo.packs import encode_pack, read_block, write_pack
from lairs_etl.repo.storage import Storage

__all__ = ["MERGE_FACTOR", "PackSet", "PackSetReader", "Segment", "read_packset", "write_blocks"]

MERGE_FACTOR = 4
_BULK = 64  # above this many lookups, loading whole segments beats ranged probes
_COALESCE_GAP = 64 * 1024


@dataclass(frozen=True, slots=True)
class Segment:
    """One index segment of a packset and how many blocks it indexes."""

    index: str
    blocks: int


@dataclass(frozen=True, slots=True)
class PackSet:
    """Index segments covering every block of a repository state, oldest first."""

    segments: tuple[Segment, ...] = ()

    def encode(self) -> bytes:
        """Canonical DAG-CBOR bytes (whose SHA-256 is the packset's name)."""
        return cbor.encode(
            {"version": 1, "segments": [{"index": s.index, "blocks": s.blocks} for s in self.segments]}
        )

    @property
    def name(self) -> str:
        """The SHA-256 (hex) of :meth:`encode`."""
        return hashlib.sha256(self.encode()).hexdigest()

    @property
    def blocks(self) -> int:
        """Blocks indexed in all segments."""
        return sum(s.blocks for s in self.segments)


def read_packset(storage: Storage, name: str) -> PackSet:
    """Read and check the packset ``name``.

    Raises:
        RepositoryCorruptError: missing, or its bytes do not hash to its name or do not parse.
    """
    try:
        data = storage.get(packset_key(name))
    except NotFoundError as exc:
        raise RepositoryCorruptError(f"packset {name} is missing") from exc
    if hashlib.sha256(data).hexdigest() != name:
        raise RepositoryCorruptError(f"packset {name} does not hash to its name")
    try:
        raw = cbor.decode(data)
        segments = tuple(Segment(str(s["index"]), int(s["blocks"])) for s in raw["segments"])
    except (CodecError, KeyError, TypeError, ValueError) as exc:
        raise RepositoryCorruptError(f"packset {name} does not parse") from exc
    return PackSet(segments)


class PackSetReader:
    """Read-only block store over a packset: a :class:`~lairs_etl.atproto.blockstore.BlockSource`.

    Contract: ``get`` of a CID the packset does not hold raises :class:`NotFoundError`
    (a ``KeyError``); every block returned has been re-hashed against its CID, and a
    mismatch raises :class:`RepositoryCorruptError`.
    """

    def __init__(self, storage: Storage, packset: PackSet | str | None) -> None:
        self.storage = storage
        if packset is None:
            packset = PackSet()
        elif isinstance(packset, str):
            packset = read_packset(storage, packset)
        self.packset = packset
        self._segments: dict[str, IndexSegment] = {}

    def _segment(self, name: str, *, load: bool = False) -> IndexSegment:
        seg = self._segments.get(name)
        if seg is None or (load and not seg.loaded):
            try:
                seg = IndexSegment.load(self.storage, name) if load else IndexSegment(self.storage, name)
            except NotFoundError as exc:
                raise RepositoryCorruptError(f"index segment {name} is missing") from exc
            self._segments[name] = seg
        return seg

    def preload(self) -> None:
        """Load every segment whole (one read each): for walks over many blocks."""
        for s in self.packset.segments:
            self._segment(s.index, load=True)

    def find(self, cid: Cid) -> Location | None:
        """Where ``cid`` is stored, or ``None``."""
        for s in reversed(self.packset.segments):
            location = self._segment(s.index).find(cid)
            if location is not None:
                return location
        return None

    def has(self, cid: Cid) -> bool:
        """Whether the packset holds ``cid``."""
        return self.find(cid) is not None

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, Cid) and self.has(cid)

    def get(self, cid: Cid) -> bytes:
        """The verified bytes of ``cid``.

        Raises:
            NotFoundError: the packset does not hold it.
            RepositoryCorruptError: its pack is missing or damaged.
        """
        location = self.find(cid)
        if location is None:
            raise NotFoundError("block not in repository", cid=cid.encode())
        return read_block(self.storage, cid, location)

    def get_many(self, cids: Iterable[Cid]) -> dict[Cid, bytes]:
        """The verified blocks held among ``cids``, fetched with coalesced ranged reads."""
        wanted = _unique(cids)
        if len(wanted) > _BULK:
            self.preload()
        by_pack: dict[str, list[tuple[Location, Cid]]] = {}
        for cid in wanted:
            location = self.find(cid)
            if location is not None:
                by_pack.setdefault(location.pack, []).append((location, cid))
        found: dict[Cid, bytes] = {}
        for pack, located in by_pack.items():
            for start, end, run in _coalesce(sorted(located, key=lambda lc: lc[0].offset)):
                chunk = self.storage.get_range(pack_key(pack), start, end)
                for location, cid in run:
                    piece = chunk[location.offset - start : location.offset - start + location.length]
                    found[cid] = _checked(cid, piece, location)
        return found

    def missing(self, cids: Iterable[Cid]) -> list[Cid]:
        """Those of ``cids`` the packset does not hold (the blocks a commit must write)."""
        wanted = _unique(cids)
        if len(wanted) > _BULK:
            self.preload()
        return [cid for cid in wanted if self.find(cid) is None]

    def __iter__(self) -> Iterator[Cid]:
        for s in self.packset.segments:
            for key, *_ in self._segment(s.index, load=True).entries():
                yield key_cid(key)

    def packs(self) -> set[str]:
        """Names of every pack the packset's segments point into."""
        return {p for s in self.packset.segments for p in self._segment(s.index).packs()}


def _unique(cids: Iterable[Cid]) -> list[Cid]:
    """Distinct CIDs in first-seen order (keyed by bytes: CID hashing is Python code)."""
    return list({cid.cid_bytes: cid for cid in cids}.values())


def _checked(cid: Cid, data: bytes, location: Location) -> bytes:
    if hashlib.sha256(data).digest() != bytes(cid)[4:] or len(data) != location.length:
        raise RepositoryCorruptError(f"block in pack {location.pack} is damaged", cid=cid.encode())
    return data


def _coalesce(
    located: Sequence[tuple[Location, Cid]],
) -> Iterator[tuple[int, int, list[tuple[Location, Cid]]]]:
    run: list[tuple[Location, Cid]] = []
    start = end = 0
    for location, cid in located:
        if run and location.offset - end > _COALESCE_GAP:
            yield start, end, run
            run = []
        if run:
            end = max(end, location.offset + location.length)
        else:
            start, end = location.offset, location.offset + location.length
        run.append((location, cid))
    if run:
        yield start, end, run


PACK_BYTES = 16 * 1024 * 1024
"""Bytes of blocks per pack at most (a block larger than this gets a pack of its own)."""


def _chunks(blocks: list[tuple[Cid, bytes]], limit: int) -> Iterator[list[tuple[Cid, bytes]]]:
    chunk: list[tuple[Cid, bytes]] = []
    size = 0
    for block in blocks:
        if chunk and size + len(block[1]) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(block)
        size += len(block[1])
    if chunk:
        yield chunk


def write_blocks(
    storage: Storage,
    base: PackSetReader | PackSet | str | None,
    blocks: Iterable[tuple[Cid, bytes]],
    *,
    roots: Sequence[Cid],
) -> PackSet:
    """Store the blocks ``base`` lacks as packs; return the packset covering both.

    Writes, in this order, the packs (one per :data:`PACK_BYTES` of blocks, each built,
    written and dropped before the next, so a commit's pack never sits whole in
    memory), one index segment and the packset (3 objects for a commit under
    ``PACK_BYTES``; none if every block is already held, in which case ``base`` is
    returned). Nothing is
    published: the caller moves a ref to the result last, so a crash at any point
    leaves only unreferenced objects for ``gc``. Blocks are not re-hashed here: callers
    pass blocks they encoded or verified (fsck re-hashes everything).

    Raises:
        CodecError: a CID is not a CIDv1 sha2-256 dag-cbor/raw CID.
        RepositoryError: the backend failed.
    """
    reader = base if isinstance(base, PackSetReader) else PackSetReader(storage, base)
    # Keyed by the CID's bytes: hashing cbrrr's CID objects runs Python code per block.
    # The caller's pairs are kept, not copied (a large commit's peak is here).
    staged = {pair[0].cid_bytes: pair for pair in blocks}
    if reader.packset.segments:
        fresh_cids = reader.missing(cid for cid, _ in staged.values())
        new = [staged[cid.cid_bytes] for cid in fresh_cids]
    else:
        new = list(staged.values())
    if not new:
        return reader.packset
    del staged
    names: list[str] = []
    rows: list[bytes] = []
    for chunk in _chunks(new, PACK_BYTES):
        pack = encode_pack(roots, chunk)
        write_pack(storage, pack)
        number = len(names)
        names.append(pack.name)
        rows.extend([cid_row(c, number, off, ln) for c, off, ln in pack.entries])
        del pack
    count = len(rows)
    fresh = build_rows(names, rows)
    del rows
    segments = list(reader.packset.segments)
    absorbed: list[IndexSegment] = []
    while segments and segments[-1].blocks < MERGE_FACTOR * count:
        old = segments.pop()
        absorbed.append(reader._segment(old.index, load=True))
        count += old.blocks
    data = fresh
    if absorbed:
        first = IndexSegment(storage, hashlib.sha256(fresh).hexdigest(), fresh)
        data = merge_segments([first, *absorbed])
    name = hashlib.sha256(data).hexdigest()
    storage.put(index_key(name), data)
    packset = PackSet((*segments, Segment(name, IndexSegment(storage, name, data).count)))
    storage.put(packset_key(packset.name), packset.encode())
    return packset
