"""Inductive verification of ``#commit`` frames: conformance fixtures, tampering, chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.crypto import generate_private_key
from lairs_etl.atproto.firehose import (
    CommitEvent,
    check_chain,
    decode_frame,
    invert,
    verify_commit_event,
)
from lairs_etl.atproto.mst import build
from lairs_etl.errors import (
    BlockHashMismatch,
    ChainBreakError,
    CommitProofError,
    FrameError,
    SignatureError,
)
from tests.atproto.firehose._producer import Producer, frame

_FIXTURES = json.loads((Path(__file__).parent / "data" / "commit-proof-fixtures.json").read_text())
_COLLECTION = "pub.layers.expression.expression"


def _ops(case: dict[str, Any], leaf: Cid) -> list[tuple[str, Cid | None, Cid | None]]:
    return [(k, leaf, None) for k in case["adds"]] + [(k, None, leaf) for k in case["dels"]]


@pytest.mark.parametrize("case", _FIXTURES, ids=lambda c: c["comment"])
def test_inversion_from_exactly_the_proof_blocks_gives_the_old_root(case: dict[str, Any]) -> None:
    leaf = Cid.decode(case["leafValue"])
    before = build(sorted((k, leaf) for k in case["keys"]))
    assert before.root.encode() == case["rootBeforeCommit"]
    after_keys = (set(case["keys"]) | set(case["adds"])) - set(case["dels"])
    after = build(sorted((k, leaf) for k in after_keys))
    assert after.root.encode() == case["rootAfterCommit"]
    proof = {cid: data for cid, data in after.blocks.items() if cid.encode() in case["blocksInProof"]}
    assert {c.encode() for c in proof} == set(case["blocksInProof"])
    writes = _ops(case, leaf)

    assert invert(after.root, writes, proof.__getitem__) == before.root
    assert invert(after.root, list(reversed(writes)), proof.__getitem__) == before.root


@pytest.mark.parametrize("case", _FIXTURES, ids=lambda c: c["comment"])
def test_a_proof_missing_a_block_is_refused_never_misread(case: dict[str, Any]) -> None:
    leaf = Cid.decode(case["leafValue"])
    before = build(sorted((k, leaf) for k in case["keys"]))
    after_keys = (set(case["keys"]) | set(case["adds"])) - set(case["dels"])
    after = build(sorted((k, leaf) for k in after_keys))
    proof = {cid: data for cid, data in after.blocks.items() if cid.encode() in case["blocksInProof"]}
    writes = _ops(case, leaf)
    refused = 0
    for missing in proof:
        partial = {c: d for c, d in proof.items() if c != missing}
        try:
            root = invert(after.root, writes, partial.__getitem__)
        except CommitProofError:
            refused += 1
        else:  # a block the producer adds for order independence this order did not need
            assert root == before.root
    assert refused >= 1
    without_root = {c: d for c, d in proof.items() if c != after.root}
    with pytest.raises(CommitProofError):
        invert(after.root, writes, without_root.__getitem__)


def _record(text: str) -> dict[str, object]:
    return {"$type": _COLLECTION, "text": text, "kind": "sentence", "createdAt": "2026-12-07T00:00:00.000Z"}


def _producer_with_history() -> tuple[Producer, list[bytes]]:
    producer = Producer()
    frames = [producer.commit([(f"{_COLLECTION}/r{i:03d}", _record(f"s{i}")) for i in range(40)])]
    frames.append(
        producer.commit([(f"{_COLLECTION}/r005", _record("changed")), (f"{_COLLECTION}/r007", None)])
    )
    frames.append(producer.commit([(f"{_COLLECTION}/r100", _record("new"))]))
    return producer, frames


def _commit(data: bytes) -> CommitEvent:
    event = decode_frame(data)
    assert isinstance(event, CommitEvent)
    return event


def test_a_chain_of_honest_commits_verifies_and_links() -> None:
    producer, frames = _producer_with_history()
    held_rev, held_data = None, _commit(frames[0]).prev_data
    for data in frames:
        verified = verify_commit_event(_commit(data), producer.key.public_key)
        check_chain(verified, held_rev, held_data)
        held_rev, held_data = verified.rev, verified.data
    assert held_data == producer.root
    kinds = [
        (w.action, w.path) for w in verify_commit_event(_commit(frames[1]), producer.key.public_key).writes
    ]
    assert kinds == [("update", f"{_COLLECTION}/r005"), ("delete", f"{_COLLECTION}/r007")]


def _tampered(data: bytes, change: Any) -> bytes:
    header, body = cbor.decode_pair(data)
    change(body)
    return cbor.encode(header) + cbor.encode(body)


def test_each_tampering_is_refused_with_its_own_error() -> None:
    producer, frames = _producer_with_history()
    key = producer.key.public_key
    honest = frames[1]
    record_block = cbor.encode(_record("changed"))

    def flip_record_byte(body: dict[str, Any]) -> None:
        at = body["blocks"].index(record_block) + record_block.index(b"changed")
        body["blocks"] = body["blocks"][:at] + b"C" + body["blocks"][at + 1 :]

    def forge_prev_data(body: dict[str, Any]) -> None:
        body["prevData"] = cid_for_dag_cbor(cbor.encode({"forged": True}))

    def swap_op_cid(body: dict[str, Any]) -> None:
        body["ops"][0]["cid"] = cid_for_dag_cbor(record_block + b"") if False else body["ops"][0]["prev"]

    def drop_prev(body: dict[str, Any]) -> None:
        del body["prevData"]

    cases = {
        flip_record_byte: BlockHashMismatch,
        forge_prev_data: CommitProofError,
        swap_op_cid: CommitProofError,
        drop_prev: FrameError,
    }
    for change, error in cases.items():
        with pytest.raises(error):
            verify_commit_event(_commit(_tampered(honest, change)), key)
    with pytest.raises(SignatureError):
        verify_commit_event(_commit(honest), generate_private_key().public_key)


def test_an_op_the_blocks_do_not_prove_is_refused() -> None:
    producer, frames = _producer_with_history()

    def claim_an_extra_delete(body: dict[str, Any]) -> None:
        body["ops"].append(
            {"action": "delete", "path": f"{_COLLECTION}/r009", "cid": None, "prev": body["ops"][0]["cid"]}
        )

    with pytest.raises(CommitProofError):
        verify_commit_event(_commit(_tampered(frames[2], claim_an_extra_delete)), producer.key.public_key)


def test_the_chain_refuses_replays_and_gaps() -> None:
    producer, frames = _producer_with_history()
    key = producer.key.public_key
    first, second, third = (verify_commit_event(_commit(f), key) for f in frames)
    with pytest.raises(ChainBreakError) as replay:
        check_chain(second, third.rev, third.data)
    assert replay.value.reason == "stale"
    with pytest.raises(ChainBreakError) as gap:
        check_chain(third, first.rev, first.data)
    assert gap.value.reason == "desynchronized"
    with pytest.raises(ChainBreakError) as unknown:
        check_chain(first, None, None)
    assert unknown.value.reason == "desynchronized"


def test_malformed_frames_get_a_frame_error() -> None:
    for data in (b"", b"\xa0", frame("#commit", {"seq": 1}), cbor.encode({"op": 7}) + cbor.encode({})):
        with pytest.raises(FrameError):
            decode_frame(data)
    with pytest.raises(FrameError):
        decode_frame(frame("#identity", {"seq": 1, "did": "nope", "time": "t"}))


_paths = st.lists(st.integers(0, 300), min_size=1, max_size=25, unique=True)


@settings(max_examples=40, deadline=None)
@given(existing=_paths, touched=_paths, deletes=st.data())
def test_any_commit_inverts_to_its_prev_data(
    existing: list[int], touched: list[int], deletes: st.DataObject
) -> None:
    producer = Producer()
    producer.commit([(f"{_COLLECTION}/k{i:04d}", _record(str(i))) for i in existing])
    writes: list[tuple[str, dict[str, object] | None]] = []
    for i in touched:
        delete = i in existing and deletes.draw(st.booleans())
        writes.append((f"{_COLLECTION}/k{i:04d}", None if delete else _record(f"v{i}")))
    before = producer.root
    event = _commit(producer.commit(writes))
    verified = verify_commit_event(event, producer.key.public_key)
    assert verified.prev_data == before
    assert verified.data == producer.root
