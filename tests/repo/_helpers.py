"""Test doubles and a miniature commit, shaped like what the repository layer will do.

``commit_records`` stands in for the coordinator's commit (MST build + commit object):
one "tree" block listing the records' CIDs plays the MST root, so these tests exercise
the storage substrate's write order (blocks, pack, index, packset, ref last) for real.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.errors import RefConflictError
from lairs_etl.repo.objects import ActorState, Commit, build_actor_map
from lairs_etl.repo.packset import PackSetReader, write_blocks
from lairs_etl.repo.refs import Refs, RefValue
from lairs_etl.repo.storage import Storage

DID = "did:plc:testactor0000000000000"


def record(i: int, salt: str = "") -> bytes:
    return cbor.encode({"$type": "pub.layers.test", "n": i, "text": f"record {salt}{i} " + "x" * 200})


def commit_records(
    storage: Storage,
    records: Iterable[bytes],
    *,
    branch: str = "main",
    message: str = "test",
    did: str = DID,
    expected: RefValue | bool | None = True,
) -> tuple[Commit, RefValue]:
    """Commit ``records`` as ``did``'s whole record set on ``branch``; returns commit and ref.

    ``expected=True`` reads the branch first (the normal case); a RefValue or None pins it.
    """
    refs = Refs(storage)
    head = refs.find("heads", branch) if expected is True else expected
    assert head is None or isinstance(head, RefValue)
    reader = PackSetReader(storage, None if head is None else head.packset)
    blocks = {cid_for_dag_cbor(data): data for data in records}
    tree = cbor.encode({"records": sorted(blocks, key=bytes)})
    tree_cid = cid_for_dag_cbor(tree)
    blocks[tree_cid] = tree
    parent = None if head is None else Commit.decode(reader.get(head.commit))
    now = dt.datetime.now(dt.UTC).isoformat()
    state = ActorState(root=tree_cid, fetched_at=now, lexicon_hash="sha256-test", valid_count=len(blocks) - 1)
    actors, actor_blocks = build_actor_map(reader, None if parent is None else parent.actors, {did: state})
    blocks.update(actor_blocks)
    commit = Commit(actors, () if head is None else (head.commit,), message, "tests", now)
    blocks[commit.cid] = commit.data
    packset = write_blocks(storage, reader, blocks.items(), roots=[commit.cid])
    value = RefValue(commit.cid, packset.name)
    try:
        refs.set("heads", branch, value, expected=head)
    except RefConflictError as exc:
        exc.add_note(commit.cid.encode())  # the commit that lost, for the tests' ledger
        raise
    return commit, value


def history(storage: Storage, value: RefValue) -> list[Commit]:
    """Every commit reachable from ``value`` (first-parent is enough: tests make no merges)."""
    reader = PackSetReader(storage, value.packset)
    out = []
    cid: Cid | None = value.commit
    while cid is not None:
        commit = Commit.decode(reader.get(cid))
        out.append(commit)
        cid = commit.parents[0] if commit.parents else None
    return out


class CrashAfter(Exception):
    """The simulated process death."""


class FaultyStorage(Storage):
    """A Storage that 'dies' before its ``budget``-th write (put, swap or delete)."""

    def __init__(self, inner: Storage, budget: int) -> None:
        super().__init__(inner.fs, inner.root, url=inner.url)
        self.budget = budget
        self.writes = 0
        self.written: list[str] = []

    def _spend(self) -> None:
        if self.writes >= self.budget:
            raise CrashAfter(self.writes)
        self.writes += 1

    def put(self, key: str, data: bytes) -> None:
        self._spend()
        super().put(key, data)
        self.written.append(key)

    def swap(self, key: str, expected: bytes | None, new: bytes | None) -> None:
        self._spend()
        super().swap(key, expected, new)

    def delete(self, key: str) -> None:
        self._spend()
        super().delete(key)


class CountingStorage(Storage):
    """A Storage that counts requests by kind, to check read and write costs."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner.fs, inner.root, url=inner.url)
        self.counts: dict[str, int] = {}
        self.keys: list[str] = []

    def _count(self, kind: str, key: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.keys.append(key)

    def get(self, key: str) -> bytes:
        self._count("get", key)
        return super().get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self._count("get_range", key)
        return super().get_range(key, start, end)

    def put(self, key: str, data: bytes) -> None:
        self._count("put", key)
        super().put(key, data)

    def swap(self, key: str, expected: bytes | None, new: bytes | None) -> None:
        self._count("swap", key)
        super().swap(key, expected, new)

    @property
    def reads(self) -> int:
        return self.counts.get("get", 0) + self.counts.get("get_range", 0)

    @property
    def writes(self) -> int:
        return self.counts.get("put", 0) + self.counts.get("swap", 0)


def objects_under(
    storage: Storage, prefixes: Iterable[str] = ("packs/", "indexes/", "packsets/")
) -> set[str]:
    return {o.key for p in prefixes for o in storage.list(p)}


