"""Every kind of tampering is caught with its typed error naming the actor and the object.

The bytes are the real PDS's (fetched once), served back corrupted by a mock transport;
forged commits are signed with a key that is not the actor's. No records are returned
from a fetch that failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.commit import parse_commit, sign_commit
from lairs_etl.atproto.crypto import PublicKey, generate_private_key
from lairs_etl.atproto.fetch import FetchMode, fetch_actor
from lairs_etl.atproto.mst import key_layer
from lairs_etl.atproto.mst.node import encode_entries
from lairs_etl.atproto.syntax import Did, Tid
from lairs_etl.errors import (
    BlockHashMismatch,
    CarFormatError,
    MstStructureError,
    RecordCidMismatch,
    SignatureError,
    VerificationError,
)
from tests.atproto.fetch.conftest import LAYERS, MockPds, Repo, StaticResolver, car_bytes, flip, rebuild_car

pytestmark = pytest.mark.pds


def _fetch(repo: Repo, pds: MockPds, mode: FetchMode) -> None:
    with pds.client() as client:
        fetch_actor(repo.identity.did, mode=mode, client=client, resolver=StaticResolver(repo.identity))


def _commit_data(pds: MockPds) -> Cid:
    return parse_commit(pds.blocks[pds.head]).data


def _head(pds: MockPds) -> Cid:
    return pds.head


def _a_record_cid(pds: MockPds) -> Cid:
    return next(
        c for c, b in pds.blocks.items() if isinstance(cbor.decode(b), dict) and "$type" in cbor.decode(b)
    )


def _corrupt(pds: MockPds, cid: Cid) -> None:
    bad = flip(pds.blocks[cid])
    pds.blocks[cid] = bad
    pds.car = rebuild_car(pds, {cid: bad})


@pytest.mark.parametrize("mode", ["car", "tree"])
@pytest.mark.parametrize("target", ["record", "mst node", "commit"])
def test_a_flipped_byte_is_a_block_hash_mismatch(real_repo: Repo, mode: FetchMode, target: str) -> None:
    pds = real_repo.mock()
    pick: dict[str, Callable[[MockPds], Cid]] = {
        "record": _a_record_cid,
        "mst node": _commit_data,
        "commit": _head,
    }
    cid = pick[target](pds)
    _corrupt(pds, cid)
    with pytest.raises(BlockHashMismatch) as caught:
        _fetch(real_repo, pds, mode)
    assert caught.value.actor == real_repo.identity.did
    assert caught.value.cid == cid.encode()


def test_a_truncated_car_is_a_format_error(real_repo: Repo) -> None:
    pds = real_repo.mock()
    pds.car = pds.car[: len(pds.car) - 7]
    with pytest.raises(CarFormatError) as caught:
        _fetch(real_repo, pds, "car")
    assert caught.value.actor == real_repo.identity.did


def test_a_car_missing_whole_blocks_is_caught(real_repo: Repo) -> None:
    pds = real_repo.mock()
    record = _a_record_cid(pds)
    pds.car = car_bytes([pds.head], [(c, b) for c, b in pds.blocks.items() if c != record])
    with pytest.raises(CarFormatError) as caught:
        _fetch(real_repo, pds, "car")
    assert caught.value.cid == record.encode()


def test_a_car_whose_root_is_not_the_commit_is_a_format_error(real_repo: Repo) -> None:
    pds = real_repo.mock()
    data = _commit_data(pds)
    pds.car = rebuild_car(pds, {}, roots=[data])
    with pytest.raises(CarFormatError) as caught:
        _fetch(real_repo, pds, "car")
    assert caught.value.cid == data.encode()


def test_a_swapped_record_is_not_in_the_signed_tree(real_repo: Repo) -> None:
    """A server replacing a record (with a consistent CID of its own) breaks the MST link."""
    pds = real_repo.mock()
    original = _a_record_cid(pds)
    forged = cbor.encode({**cbor.decode(pds.blocks[original]), "text": "forged"})
    blocks = [
        (cid_for_dag_cbor(forged) if c == original else c, forged if c == original else b)
        for c, b in pds.blocks.items()
    ]
    pds.car = car_bytes([pds.head], blocks)
    with pytest.raises(CarFormatError) as caught:
        _fetch(real_repo, pds, "car")
    assert caught.value.cid == original.encode()


@pytest.mark.parametrize("mode", ["car", "tree"])
def test_a_commit_signed_by_another_key_is_a_signature_error(real_repo: Repo, mode: FetchMode) -> None:
    pds = real_repo.mock()
    commit = parse_commit(pds.blocks[pds.head])
    forged_cid, forged = sign_commit(
        commit.did, commit.data, commit.rev, commit.prev, generate_private_key("p256")
    )
    del pds.blocks[pds.head]
    pds.head, pds.blocks[forged_cid] = forged_cid, forged
    pds.car = car_bytes([forged_cid], list(pds.blocks.items()))
    with pytest.raises(SignatureError) as caught:
        _fetch(real_repo, pds, mode)
    assert caught.value.actor == real_repo.identity.did


def test_tree_mode_refuses_a_get_blocks_answer_lacking_a_block(real_repo: Repo) -> None:
    pds = real_repo.mock()
    record = _a_record_cid(pds)
    del pds.blocks[record]
    with pytest.raises(CarFormatError) as caught:
        _fetch(real_repo, pds, "tree")
    assert caught.value.cid == record.encode()


def test_records_mode_recomputes_every_cid(real_repo: Repo) -> None:
    pds = real_repo.mock()
    entry = pds.records[LAYERS[1]][2]
    entry["value"] = {**entry["value"], "text": "changed in transit"}  # type: ignore[dict-item]
    with pds.client() as client, pytest.raises(RecordCidMismatch) as caught:
        fetch_actor(
            real_repo.identity.did,
            collections=LAYERS,
            mode="records",
            client=client,
            resolver=StaticResolver(real_repo.identity),
        )
    assert caught.value.uri == entry["uri"]
    assert caught.value.cid == entry["cid"]
    assert caught.value.actor == real_repo.identity.did


@dataclass(frozen=True)
class _Forger:
    """An identity whose key we hold, so we can serve well-signed but malformed trees."""

    did: str
    pds_url: str
    signing_key: PublicKey

    def resolve(self, actor: str) -> _Forger:
        return self


def _layer0_keys(count: int) -> list[str]:
    keys = (f"{LAYERS[0]}/3k{i:011d}" for i in range(10_000))
    return sorted(k for k in keys if key_layer(k) == 0)[:count]


@pytest.mark.parametrize("mode", ["car", "tree"])
def test_a_well_signed_but_malformed_tree_is_an_mst_structure_error(mode: FetchMode) -> None:
    private = generate_private_key("k256")
    did = Did("did:plc:" + "a" * 24)
    record = cbor.encode({"$type": LAYERS[0], "text": "x"})
    value = cid_for_dag_cbor(record)
    low, high = _layer0_keys(2)
    child = encode_entries(None, [(low.encode(), value, None)])
    child_cid = cid_for_dag_cbor(child)
    root = encode_entries(child_cid, [(high.encode(), value, None)])  # layer 0 cannot link below
    root_cid = cid_for_dag_cbor(root)
    head, commit = sign_commit(did, root_cid, Tid("3kaaaaaaaaaa2"), None, private)
    blocks = {head: commit, root_cid: root, child_cid: child, value: record}
    pds = MockPds(
        str(did), head, "3kaaaaaaaaaa2", car_bytes([head], list(blocks.items())), blocks, {}, [LAYERS[0]]
    )
    forger = _Forger(str(did), "http://pds.invalid", private.public_key)
    with pds.client() as client, pytest.raises(MstStructureError) as caught:
        fetch_actor(did, mode=mode, client=client, resolver=forger)
    assert caught.value.actor == did
    assert caught.value.cid == root_cid.encode()
    assert isinstance(caught.value, VerificationError)
