from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cbrrr
import libipld
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.errors import CodecError

# --- strategies --------------------------------------------------------------------

_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_keys = st.text(max_size=12).filter(lambda k: k not in ("$link", "$bytes"))
_cids = st.builds(
    lambda data, raw: cid_for_raw(data) if raw else cid_for_dag_cbor(data),
    st.binary(max_size=8),
    st.booleans(),
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _ints,
    st.text(max_size=30),
    _cids.map(lambda cid: {"$link": cid.encode()}),
    st.binary(max_size=20).map(lambda data: {"$bytes": _b64(data)}),
)
json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


def _ipld(binary: st.SearchStrategy[bytes]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), _ints, st.text(max_size=30), binary, _cids),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
        max_leaves=25,
    )


ipld_values = _ipld(st.binary(max_size=20))


# --- round trips -------------------------------------------------------------------


@settings(max_examples=150)
@given(json_values)
def test_json_form_round_trips(value: Any) -> None:
    assert cbor.decode_json_form(cbor.encode_json_form(value)) == value


@settings(max_examples=150)
@given(ipld_values)
def test_ipld_form_round_trips_and_reencodes_to_the_same_bytes(value: Any) -> None:
    data = cbor.encode(value)
    decoded = cbor.decode(data)
    assert decoded == value
    assert cbor.encode(decoded) == data


@settings(max_examples=100)
@given(_ipld(st.binary(max_size=20).filter(lambda b: not b.startswith((b"\x00", b"\x01")))))
def test_encoding_agrees_with_an_independent_implementation(value: Any) -> None:
    # libipld (Rust) is an oracle for the canonical bytes. It takes links as raw CID
    # bytes and guesses that any CID-shaped byte string is a link, so those are avoided.
    def for_libipld(v: Any) -> Any:
        if isinstance(v, Cid):
            return bytes(v)
        if isinstance(v, dict):
            return {k: for_libipld(x) for k, x in v.items()}
        if isinstance(v, list):
            return [for_libipld(x) for x in v]
        return v

    assert cbor.encode(value) == libipld.encode_dag_cbor(for_libipld(value))


def test_json_and_ipld_forms_describe_the_same_bytes() -> None:
    cid = cid_for_dag_cbor(b"x")
    ipld = {"ref": cid, "blob": b"\x00\x01hi", "n": 3}
    json_form = {"ref": {"$link": cid.encode()}, "blob": {"$bytes": "AAFoaQ"}, "n": 3}
    assert cbor.encode(ipld) == cbor.encode_json_form(json_form)
    assert cbor.decode_json_form(cbor.encode(ipld)) == json_form


def test_encoding_sorts_map_keys_canonically() -> None:
    # DAG-CBOR orders keys by encoded length first, then bytewise.
    assert cbor.encode({"bb": 1, "a": 2, "c": 3}) == bytes.fromhex("a3616102616303626262" + "01")


# --- hostile and non-canonical input ------------------------------------------------

HOSTILE = {
    "empty": b"",
    "deep nesting": b"\x81" * 100_000 + b"\x00",
    "huge declared byte length": b"\x5b\xff\xff\xff\xff\xff\xff\xff\xf0",
    "huge declared array": b"\x9b\xff\xff\xff\xff\xff\xff\xff\xf0",
    "huge declared map": b"\xbb\x00\x00\x00\x01\x00\x00\x00\x00",
    "map keys out of order": b"\xa2\x61b\x01\x61a\x02",
    "shorter key after longer": b"\xa2\x62aa\x01\x61b\x02",
    "duplicate key": b"\xa2\x61a\x01\x61a\x02",
    "float64": b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",
    "float64 nested": b"\xa1\x61a\x81\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",
    "float32": b"\xfa\x3f\x80\x00\x00",
    "float16": b"\xf9\x3c\x00",
    "trailing bytes": b"\x01\x02",
    "indefinite array": b"\x9f\x01\xff",
    "non-minimal integer": b"\x18\x01",
    "undefined": b"\xf7",
    "tag other than 42": b"\xc1\x01",
    "CID without identity prefix": b"\xd8\x2a\x45\x01\x71\x12\x20\x00",
    "invalid utf-8": b"\x62\xff\xfe",
    "integer map key": b"\xa1\x01\x01",
    "truncated string": b"\x65abc",
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("decode", [cbor.decode, cbor.decode_json_form], ids=["ipld", "json"])
def test_hostile_input_fails_cleanly(decode: Any, data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_reserved_keys_cannot_hide_in_cbor_maps_of_the_json_form() -> None:
    data = cbor.encode({"$link": "not a link"})
    assert cbor.decode(data) == {"$link": "not a link"}
    with pytest.raises(CodecError):
        cbor.decode_json_form(data)


def _nested(depth: int) -> bytes:
    return b"\x81" * (depth - 1) + b"\x80"


def _nested_value(depth: int) -> list[Any]:
    """What :func:`_nested` encodes: ``depth`` lists, each holding the next, the last empty."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_depth_limit_is_exact() -> None:
    assert cbor.decode(_nested(cbor.MAX_DEPTH)) == _nested_value(cbor.MAX_DEPTH)
    with pytest.raises(CodecError, match="nested deeper"):
        cbor.decode(_nested(cbor.MAX_DEPTH + 1))
    with pytest.raises(CodecError):
        cbor.decode(_nested(10), max_depth=9)


def test_depth_limit_applies_when_the_prefilter_cannot_decide() -> None:
    # Many sibling maps (plenty of container bytes) but shallow: must pass; then deep.
    wide = cbor.encode([{"a": [1]} for _ in range(200)])
    assert len(cbor.decode(wide)) == 200
    value: Any = 0
    for _ in range(cbor.MAX_DEPTH):
        value = [value, {"k": "x" * 3}]
    with pytest.raises(CodecError):
        cbor.decode(cbrrr.encode_dag_cbor(value))


def test_a_link_at_the_depth_limit_counts_as_a_scalar_in_the_json_form() -> None:
    link = cid_for_dag_cbor(b"")
    value: Any = link
    expected: Any = {"$link": link.encode()}
    for _ in range(cbor.MAX_DEPTH):
        value, expected = [value], [expected]
    data = cbor.encode(value)
    assert cbor.decode_json_form(data) == expected


def test_size_limit() -> None:
    data = cbor.encode("x" * 1000)
    assert cbor.decode(data, max_size=len(data)) == "x" * 1000
    with pytest.raises(CodecError, match="exceeds"):
        cbor.decode(data, max_size=len(data) - 1)


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": [0.0]}, float("nan"), {"k": object()}, {1: "int key"}, {"$link": "not-a-cid"}],
    ids=["float", "nested float", "nan", "object", "int key", "bad link"],
)
def test_unencodable_values_fail_cleanly(value: Any) -> None:
    with pytest.raises(CodecError):
        cbor.encode_json_form(value) if isinstance(value, dict) and "$link" in value else cbor.encode(value)


def test_encoding_refuses_over_deep_values() -> None:
    value: Any = 0
    for _ in range(cbor.MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(CodecError):
        cbor.encode(value)


# --- interop vectors ----------------------------------------------------------------
# tests/atproto/data/data-model-fixtures.json is copied from bluesky-social/atproto
# interop-test-files/data-model/data-model-fixtures.json (atproto JSON -> DAG-CBOR -> CID).

_FIXTURES = json.loads((Path(__file__).parent / "data" / "data-model-fixtures.json").read_text())


@pytest.mark.parametrize("fixture", _FIXTURES, ids=[f["cid"][-8:] for f in _FIXTURES])
def test_interop_data_model_fixtures(fixture: dict[str, Any]) -> None:
    expected = base64.b64decode(fixture["cbor_base64"] + "=" * (-len(fixture["cbor_base64"]) % 4))
    assert cbor.encode_json_form(fixture["json"]) == expected
    assert cid_for_dag_cbor(expected).encode() == fixture["cid"]
    assert cbor.decode_json_form(expected) == fixture["json"]


# From interop-test-files/data-model/data-model-invalid.json: the cases a codec must refuse.
INVALID_JSON_FORM = {
    "float": {"rcrd": {"$type": "com.example.blah", "a": 123.456, "b": "blah"}},
    "bytes with wrong field type": {"lnk": {"$bytes": [1, 2, 3]}},
    "bytes with extra fields": {
        "lnk": {"$bytes": "nFERjvLLiw9qm45JrqH9QTzyC2Lu1Xb4ne6+sBrCzI0", "other": "blah"}
    },
    "link with wrong field type": {"lnk": {"$link": 1234}},
    "link with bogus CID": {"lnk": {"$link": "."}},
    "link with extra fields": {
        "lnk": {"$link": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity", "other": "blah"}
    },
}


@pytest.mark.parametrize("value", INVALID_JSON_FORM.values(), ids=INVALID_JSON_FORM.keys())
def test_interop_invalid_json_form(value: Any) -> None:
    with pytest.raises(CodecError):
        cbor.encode_json_form(value)


def test_trusted_blocks_can_skip_the_depth_walk_but_never_the_float_check() -> None:
    deep = _nested(cbor.MAX_DEPTH + 10)
    assert cbor.decode(deep, max_depth=None) == _nested_value(cbor.MAX_DEPTH + 10)
    assert cbor.decode_json_form(deep, max_depth=None) == _nested_value(cbor.MAX_DEPTH + 10)
    with pytest.raises(CodecError, match="float"):
        cbor.decode(HOSTILE["float64 nested"], max_depth=None)
    with pytest.raises(CodecError, match="float"):
        cbor.encode({"a": [1.5]}, max_depth=None)


def test_paused_gc_restores_the_previous_state() -> None:
    import gc

    assert gc.isenabled()
    with cbor.paused_gc():
        assert not gc.isenabled()
        with cbor.paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(CodecError), cbor.paused_gc():
        cbor.decode(b"")
    assert gc.isenabled()


def test_promoting_pause_leaves_the_young_generation_empty_and_cycles_collectable() -> None:
    import gc

    class Node:
        other: object = None

    with cbor.paused_gc(promote=True):
        kept = [{"i": [i]} for i in range(5000)]
        cycle = Node()
        cycle.other = cycle
    assert gc.isenabled()
    assert gc.get_count()[0] < 100  # nothing left for a young collection to rescan
    assert gc.get_freeze_count() == 0
    assert kept[-1] == {"i": [4999]}
    del cycle
    assert gc.collect() >= 1  # the promoted cycle is still found by a full collection


def test_promoting_pause_keeps_a_frozen_program_frozen() -> None:
    import gc

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with cbor.paused_gc(promote=True):
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_cid_shaped_bytes_stay_bytes() -> None:
    # A byte string that happens to hold a binary CID must not turn into a link (and so
    # change the record's CID); libipld 3.5's encoder does that.
    shaped = bytes(cid_for_dag_cbor(b"x"))
    data = cbor.encode({"b": shaped})
    assert data[3] == 0x58  # major type 2 (bytes), one-byte length follows
    assert cbor.decode(data) == {"b": shaped}


_SCHEMA_WALK_ONLY = ("deep nesting", "float64", "float64 nested")
"""What only the data-model walk refuses: callers of decode_schema_checked refuse it by schema."""


@pytest.mark.parametrize(
    "data",
    [v for k, v in HOSTILE.items() if k not in _SCHEMA_WALK_ONLY],
    ids=[k for k in HOSTILE if k not in _SCHEMA_WALK_ONLY],
)
def test_schema_checked_decoding_is_as_strict_as_the_codec(data: bytes) -> None:
    with pytest.raises(CodecError):
        cbor.decode_schema_checked(data)


@settings(max_examples=50)
@given(ipld_values)
def test_schema_checked_decoding_agrees_with_decode(value: Any) -> None:
    data = cbor.encode(value)
    assert cbor.decode_schema_checked(data) == cbor.decode(data)


def test_schema_checked_decoding_keeps_the_size_limit() -> None:
    with pytest.raises(CodecError):
        cbor.decode_schema_checked(cbor.encode(b"x" * 100), max_size=50)


def test_typed_identifiers_encode_as_the_plain_strings_they_are() -> None:
    from lairs_etl.atproto.syntax import AtUri, Did, Nsid, Tid

    did = Did("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
    typed = {
        "did": did,
        Nsid("pub.layers.corpus.corpus"): [Tid("3jzfcijpj2z2a"), AtUri(f"at://{did}/pub.layers.corpus.corpus/x")],
    }
    plain = {
        "did": str(did),
        "pub.layers.corpus.corpus": ["3jzfcijpj2z2a", f"at://{did}/pub.layers.corpus.corpus/x"],
    }
    assert cbor.encode(typed) == cbor.encode(plain)
    assert cbor.encode_json_form(typed) == cbor.encode_json_form(plain)


def test_an_unencodable_type_is_still_refused() -> None:
    with pytest.raises(CodecError):
        cbor.encode({"a": object()})
