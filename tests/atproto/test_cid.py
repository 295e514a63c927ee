from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw, parse_cid, verify_block
from lairs_etl.errors import BlockHashMismatch, CodecError

_make = st.sampled_from([cid_for_dag_cbor, cid_for_raw])


@settings(max_examples=200)
@given(_make, st.binary(max_size=64))
def test_string_and_binary_forms_round_trip(make: object, data: bytes) -> None:
    cid = make(data)  # type: ignore[operator]
    assert parse_cid(cid.encode()) == cid
    assert parse_cid(bytes(cid)) == cid
    assert parse_cid(cid) is cid
    assert cid.encode().startswith("baf")  # CIDv1, base32, lower case


@settings(max_examples=200)
@given(_make, st.binary(max_size=64), st.binary(min_size=1, max_size=64))
def test_verify_block_accepts_only_the_hashed_bytes(make: object, data: bytes, other: bytes) -> None:
    cid = make(data)  # type: ignore[operator]
    verify_block(cid, data)
    if other != data:
        with pytest.raises(BlockHashMismatch) as info:
            verify_block(cid, other)
        assert info.value.cid == cid.encode()


def test_known_cid_of_empty_dag_cbor_map() -> None:
    # The CID of the DAG-CBOR empty map (0xa0), as every IPLD implementation spells it.
    assert cid_for_dag_cbor(b"\xa0").encode() == "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua"
    assert bytes(cid_for_raw(b"abc"))[4:] == hashlib.sha256(b"abc").digest()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "b",
        "not a cid",
        "BAFYREIGBTJ4X7IP5LEGNFZNUFUOPL4SG4KNZC2COF6DUAS4B3Q2FY6SWUA",  # upper case
        "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swub",  # stray low bits
        "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua=",  # padding
        "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n",  # CIDv0
        "bafkqaaa",  # identity hash
        "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",  # base58 multibase
    ],
)
def test_non_atproto_cid_strings_are_refused(text: str) -> None:
    with pytest.raises(CodecError):
        parse_cid(text)


def test_binary_cid_of_another_codec_is_refused() -> None:
    dag_pb = b"\x01\x70\x12\x20" + bytes(32)
    with pytest.raises(CodecError):
        parse_cid(dag_pb)
    with pytest.raises(BlockHashMismatch):
        verify_block(Cid(dag_pb), b"")
