"""One contract suite, run against every block store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockStore, DiskBlockStore, MemoryBlockStore, VerifyingBlockStore
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.errors import BlockHashMismatch


def _block(i: int) -> tuple[Cid, bytes]:
    data = cbor.encode({"n": i})
    return cid_for_dag_cbor(data), data


@pytest.fixture(params=["memory", "disk", "verifying-memory", "verifying-disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlockStore]:
    kind: str = request.param
    if kind.endswith("memory"):
        inner: BlockStore = MemoryBlockStore()
    else:
        inner = DiskBlockStore(tmp_path / "blocks.sqlite")
    yield VerifyingBlockStore(inner) if kind.startswith("verifying") else inner
    if isinstance(inner, DiskBlockStore):
        inner.close()


def test_satisfies_the_protocol(store: BlockStore) -> None:
    assert isinstance(store, BlockStore)


def test_put_then_get(store: BlockStore) -> None:
    cid, data = _block(1)
    assert not store.has(cid)
    assert cid not in store
    store.put(cid, data)
    assert store.get(cid) == data
    assert store.has(cid)
    assert cid in store
    assert len(store) == 1
    assert list(store) == [cid]


def test_missing_block_raises_key_error(store: BlockStore) -> None:
    cid, _ = _block(1)
    with pytest.raises(KeyError):
        store.get(cid)
    assert "not a cid" not in store


def test_put_is_idempotent(store: BlockStore) -> None:
    cid, data = _block(1)
    store.put(cid, data)
    store.put(cid, data)
    assert len(store) == 1
    assert store.put_many([(cid, data), _block(2)]) == 1
    assert len(store) == 2


def test_put_many_and_get_many(store: BlockStore) -> None:
    blocks = [_block(i) for i in range(5000)]  # more than one write batch
    assert store.put_many(iter(blocks)) == 5000
    assert store.put_many(iter(blocks)) == 0
    assert len(store) == 5000
    wanted = [cid for cid, _ in blocks[::7]]
    missing = _block(-1)[0]
    found = store.get_many([*wanted, missing])
    assert found == {cid: data for cid, data in blocks[::7]}
    assert missing not in found
    assert set(store) == {cid for cid, _ in blocks}


def test_raw_blocks_are_stored_too(store: BlockStore) -> None:
    blob = b"\x00\xff" * 100
    store.put(cid_for_raw(blob), blob)
    assert store.get(cid_for_raw(blob)) == blob


def test_verifying_store_refuses_bad_blocks(tmp_path: Path) -> None:
    for inner in (MemoryBlockStore(), DiskBlockStore(tmp_path / "v.sqlite")):
        store = VerifyingBlockStore(inner)
        cid, data = _block(1)
        with pytest.raises(BlockHashMismatch):
            store.put(cid, data + b"x")
        with pytest.raises(BlockHashMismatch):
            store.put_many([_block(2), (cid, b"forged")])
        assert cid not in inner
        if isinstance(inner, DiskBlockStore):
            inner.close()


def test_unverified_stores_trust_their_caller() -> None:
    # Documented contract: only VerifyingBlockStore checks; a CAR reader checks earlier.
    store = MemoryBlockStore()
    cid, _ = _block(1)
    store.put(cid, b"anything")
    assert store.get(cid) == b"anything"


def test_disk_store_persists_and_merges(tmp_path: Path) -> None:
    path = tmp_path / "repo.sqlite"
    first = [_block(i) for i in range(10)]
    with DiskBlockStore(path) as store:
        store.put_many(first)
    with DiskBlockStore(path) as store:
        assert len(store) == 10
        assert store.put_many([_block(i) for i in range(5, 15)]) == 5
        assert store.get(first[3][0]) == first[3][1]
        assert len(store) == 15
