"""Records prepared during the download: either arrival order, and never trusted blindly."""

from __future__ import annotations

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.fetch._prebuild import RecordPrebuilder
from lairs_etl.atproto.fetch._verified import records_from_leaves
from lairs_etl.atproto.syntax import Did
from lairs_etl.atproto.xrpc import JsonValue

DID = Did("did:plc:" + "c" * 24)
KEY = "pub.layers.expression.expression/3kaaaaaaaaaa2"


def _block(n: int) -> tuple[bytes, JsonValue]:
    value: JsonValue = {"$type": "pub.layers.expression.expression", "n": n}
    return cbor.encode_json_form(value), value


@pytest.mark.parametrize("entry_first", [True, False], ids=["entry first", "block first"])
def test_a_record_is_prepared_whichever_side_arrives_first(entry_first: bool) -> None:
    block, value = _block(1)
    cid = cid_for_dag_cbor(block)
    values: dict[bytes, bytes] = {}
    prebuilder = RecordPrebuilder(DID, values)
    if entry_first:
        prebuilder.entry(KEY, cid)
    values[cid.cid_bytes] = block
    prebuilder.block(cid.cid_bytes)
    if not entry_first:
        prebuilder.entry(KEY, cid)
    record = prebuilder.records[KEY]
    assert (record.uri, record.cid, record.value, record.block) == (f"at://{DID}/{KEY}", cid, value, block)


def test_a_prepared_record_is_used_only_for_the_same_cid() -> None:
    stale, _ = _block(1)
    block, value = _block(2)
    stale_cid, cid = cid_for_dag_cbor(stale), cid_for_dag_cbor(block)
    values: dict[bytes, bytes] = {stale_cid.cid_bytes: stale}
    prebuilder = RecordPrebuilder(DID, values)
    prebuilder.entry(KEY, stale_cid)  # e.g. a node that is not part of the signed tree
    records = records_from_leaves(DID, [(KEY, cid)], {cid: block}, prebuilt=prebuilder.records)
    assert [(r.cid, r.value) for r in records] == [(cid, value)]


def test_keys_that_are_not_record_paths_are_left_to_the_verified_pass() -> None:
    block, _ = _block(1)
    cid = cid_for_dag_cbor(block)
    prebuilder = RecordPrebuilder(DID, {cid.cid_bytes: block})
    prebuilder.entry("A0/374913", cid)  # a valid MST key, not an NSID collection
    assert prebuilder.records == {}


def test_past_the_decode_budget_only_checked_blocks_pair_and_the_verified_pass_builds_the_rest() -> None:
    (checked, _), (unchecked, value) = _block(1), _block(2)
    checked_cid, unchecked_cid = cid_for_dag_cbor(checked), cid_for_dag_cbor(unchecked)
    other = "pub.layers.expression.expression/3kaaaaaaaaab2"
    values: dict[bytes, bytes] = {checked_cid.cid_bytes: checked}
    prebuilder = RecordPrebuilder(DID, values)
    prebuilder.entry(other, unchecked_cid)  # waiting for a block the reader will not check
    prebuilder.stop_waiting()
    prebuilder.entry(KEY, checked_cid)
    values[unchecked_cid.cid_bytes] = unchecked
    prebuilder.block(unchecked_cid.cid_bytes)
    assert list(prebuilder.records) == [KEY]
    leaves = [(KEY, checked_cid), (other, unchecked_cid)]
    blocks = {checked_cid: checked, unchecked_cid: unchecked}
    records = records_from_leaves(DID, leaves, blocks, prebuilt=prebuilder.records)
    assert [(r.uri, r.value) for r in records][1] == (f"at://{DID}/{other}", value)
    assert records[0] is prebuilder.records[KEY]


def test_a_retried_download_pairs_entries_with_later_blocks_again() -> None:
    block, _ = _block(1)
    cid = cid_for_dag_cbor(block)
    values: dict[bytes, bytes] = {}
    prebuilder = RecordPrebuilder(DID, values)
    prebuilder.stop_waiting()  # the first attempt spent its budget, then failed
    prebuilder.new_attempt()
    prebuilder.entry(KEY, cid)
    values[cid.cid_bytes] = block
    prebuilder.block(cid.cid_bytes)
    assert list(prebuilder.records) == [KEY]
