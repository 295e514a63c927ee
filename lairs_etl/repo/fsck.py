"""Pack-level fsck: every stored byte a ref depends on is re-hashed and cross-checked.

For each ref (or any ``(packset, commits)`` the caller names) it checks that

* the packset and each index segment hash to their names and parse;
* each pack they point into hashes to its name, frames as a CAR whose every block
  hashes to its CID, and agrees with the index (same CIDs, offsets and lengths);
* every block reachable from the commits is in the packset. What a block links to is
  the caller's knowledge (commits, actor maps, MST nodes, records): ``links`` yields
  it; the default follows every dag-cbor link and stops at raw (blob) CIDs, which
  the repository does not store.

Problems are collected, not raised, so one run reports all the damage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import CodecError, RepositoryCorruptError, RepositoryError
from lairs_etl.repo.layout import REF_KINDS, index_key, pack_key
from lairs_etl.repo.packindex import IndexSegment, key_cid
from lairs_etl.repo.packs import iter_pack
from lairs_etl.repo.packset import PackSetReader, read_packset
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import Storage

__all__ = ["FsckReport", "LinkFunction", "dag_cbor_links", "fsck_packs", "fsck_refs"]

LinkFunction = Callable[[Cid, bytes], Iterable[Cid]]
"""Given a block, the CIDs of the blocks it links to that the repository must hold."""


@dataclass
class FsckReport:
    """What fsck looked at and what it found wrong (empty ``problems``: all good).

    ``strays`` lists stray keys under ``refs/`` (not refs: reported, not damage).
    """

    packsets: int = 0
    segments: int = 0
    packs: int = 0
    blocks_hashed: int = 0
    reachable: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        """Whether nothing was wrong."""
        return not self.problems

    def raise_if_damaged(self) -> None:
        """Raise if any problem was found.

        Raises:
            RepositoryCorruptError: listing every problem.
        """
        if self.problems:
            raise RepositoryCorruptError("; ".join(self.problems[:20]))


def dag_cbor_links(cid: Cid, data: bytes) -> Iterator[Cid]:
    """Every dag-cbor CID inside a dag-cbor block (raw blocks and blob links excluded)."""
    if not cid.is_cidv1_dag_cbor_sha256_32():
        return
    stack: list[object] = [cbor.decode(data)]
    while stack:
        value = stack.pop()
        if isinstance(value, Cid):
            if value.is_cidv1_dag_cbor_sha256_32():
                yield value
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def fsck_refs(storage: Storage, links: LinkFunction = dag_cbor_links) -> FsckReport:
    """Check every branch and tag (see :func:`fsck_packs`)."""
    refs = Refs(storage)
    report = FsckReport(strays=refs.strays())
    targets: dict[str, list[Cid]] = {}
    for kind in REF_KINDS:
        for value in refs.list(kind).values():
            targets.setdefault(value.packset, []).append(value.commit)
    for packset, commits in targets.items():
        fsck_packs(storage, packset, commits, links, report=report)
    return report


def fsck_packs(
    storage: Storage,
    packset: str,
    commits: Iterable[Cid],
    links: LinkFunction = dag_cbor_links,
    *,
    report: FsckReport | None = None,
) -> FsckReport:
    """Check one packset, everything it points to, and the blocks reachable from ``commits``.

    Passing the same ``report`` across calls skips packs and segments already checked.
    """
    report = report if report is not None else FsckReport()
    seen = report._seen
    try:
        reader = PackSetReader(storage, read_packset(storage, packset))
    except RepositoryError as exc:
        report.problems.append(f"packset {packset}: {exc}")
        return report
    report.packsets += 1
    for seg in reader.packset.segments:
        if seg.index not in seen:
            seen.add(seg.index)
            _check_segment(storage, seg.index, seen, report)
    _check_reachable(reader, commits, links, report)
    return report


def _check_segment(storage: Storage, name: str, seen: set[str], report: FsckReport) -> None:
    report.segments += 1
    try:
        data = storage.get(index_key(name))
        if hashlib.sha256(data).hexdigest() != name:
            report.problems.append(f"index segment {name} does not hash to its name")
        segment = IndexSegment(storage, name, data)
    except RepositoryError as exc:
        report.problems.append(f"index segment {name}: {exc}")
        return
    by_pack: dict[int, dict[bytes, tuple[int, int]]] = {}
    for key, number, offset, length in segment.entries():
        by_pack.setdefault(number, {})[key] = (offset, length)
    for number, pack in enumerate(segment.packs()):
        if pack in seen:
            continue
        seen.add(pack)
        _check_pack(storage, pack, by_pack.get(number, {}), report)


def _check_pack(
    storage: Storage, name: str, indexed: dict[bytes, tuple[int, int]], report: FsckReport
) -> None:
    report.packs += 1
    try:
        data = storage.get(pack_key(name))
    except RepositoryError as exc:
        report.problems.append(f"pack {name}: {exc}")
        return
    if hashlib.sha256(data).hexdigest() != name:
        report.problems.append(f"pack {name} does not hash to its name")
    found: dict[bytes, tuple[int, int]] = {}
    try:
        for cid, offset, block in iter_pack(data):
            found[bytes(cid)[4:] + bytes(cid)[1:2]] = (offset, len(block))
            report.blocks_hashed += 1
    except RepositoryCorruptError as exc:
        report.problems.append(f"pack {name}: {exc}")
        return
    for key, place in indexed.items():
        if found.get(key) != place:
            report.problems.append(f"pack {name}: index entry for {key_cid(key).encode()} is wrong")


def _check_reachable(
    reader: PackSetReader, commits: Iterable[Cid], links: LinkFunction, report: FsckReport
) -> None:
    try:
        reader.preload()
    except RepositoryError as exc:
        report.problems.append(f"cannot walk from the commits: {exc}")
        return
    pending = list(dict.fromkeys(commits))
    visited = set(pending)
    while pending:
        batch, pending = pending[:4096], pending[4096:]
        blocks = _read(reader, batch, report)
        for cid in batch:
            data = blocks.get(cid)
            if data is None:
                report.problems.append(f"block {cid.encode()} is reachable but not readable")
                continue
            report.reachable += 1
            try:
                targets = list(links(cid, data))
            except CodecError as exc:
                report.problems.append(f"block {cid.encode()} does not decode: {exc.message}")
                continue
            for target in targets:
                if target not in visited:
                    visited.add(target)
                    pending.append(target)


def _read(reader: PackSetReader, batch: list[Cid], report: FsckReport) -> dict[Cid, bytes]:
    """Read a batch; on damage fall back to one block at a time so each is reported."""
    try:
        return reader.get_many(batch)
    except RepositoryError:
        pass
    found: dict[Cid, bytes] = {}
    for cid in batch:
        try:
            found[cid] = reader.get(cid)
        except RepositoryError as exc:
            report.problems.append(f"block {cid.encode()}: {exc}")
    return found
