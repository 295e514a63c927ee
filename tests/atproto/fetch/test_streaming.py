"""The car mode's streaming parts: the spilling store and reading while downloading."""

from __future__ import annotations

import pytest

from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.fetch import car as car_mode
from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.fetch._spill import SpillingBlockStore
from tests.atproto.fetch.conftest import LAYERS, Repo, StaticResolver


def _blocks(count: int, size: int) -> list[tuple[Cid, bytes]]:
    out = []
    for i in range(count):
        data = bytes([0x58, size]) + bytes([i % 256]) * size  # a CBOR byte string
        out.append((cid_for_dag_cbor(data), data))
    return out


def test_spilling_store_moves_to_disk_past_its_limit_and_keeps_every_block() -> None:
    blocks = _blocks(40, 100)
    with SpillingBlockStore(limit=1000) as store:
        assert store.put_many(blocks[:5]) == 5
        spilled_early = store.spilled
        assert store.put_many(blocks) == 35
        assert (spilled_early, store.spilled) == (False, True)
        assert len(store) == 40
        for cid, data in blocks:
            assert store.get(cid) == data
        with pytest.raises(KeyError):
            store.get(cid_for_dag_cbor(b"\x00"))


@pytest.mark.pds
def test_a_large_repository_is_fetched_through_the_disk_store(
    real_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    pds = real_repo.mock()
    with pds.client() as client:
        in_memory = fetch_actor(
            real_repo.identity.did,
            collections=LAYERS,
            mode="car",
            client=client,
            resolver=StaticResolver(real_repo.identity),
        )
        monkeypatch.setattr(car_mode, "MEMORY_LIMIT", 200)
        spilled = fetch_actor(
            real_repo.identity.did,
            collections=LAYERS,
            mode="car",
            client=client,
            resolver=StaticResolver(real_repo.identity),
        )
    assert spilled.records == in_memory.records
    assert len(spilled.records) == 12
