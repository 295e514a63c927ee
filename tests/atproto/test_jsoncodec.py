"""The one JSON decoder for untrusted bytes: exact where JSON is exact, typed where it is not."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import jsoncodec
from lairs_etl.errors import CodecError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200)
@given(json_values)
def test_decodes_what_the_standard_library_decodes(value: object) -> None:
    text = json.dumps(value)
    assert jsoncodec.decode(text.encode()) == json.loads(text)
    assert jsoncodec.decode(text) == json.loads(text)


@pytest.mark.parametrize("digits", [19, 20, 21, 40, 300, 4299])
def test_integers_of_up_to_4299_digits_decode_exactly(digits: int) -> None:
    number = int("7" * digits)
    assert jsoncodec.decode(f"[{number}, -{number}]".encode()) == [number, -number]


def test_an_integer_past_4300_digits_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        jsoncodec.decode(b"[" + b"9" * 4301 + b"]")


@pytest.mark.parametrize("depth", [1, 64, 127, 128])
def test_nesting_up_to_the_limit_is_read(depth: int) -> None:
    assert jsoncodec.decode(b"[" * depth + b"]" * depth) is not None
    assert jsoncodec.decode(b'{"a":' * depth + b"1" + b"}" * depth) is not None


@pytest.mark.parametrize("depth", [129, 1_000, 100_000])
def test_nesting_past_the_limit_is_a_codec_error(depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        with pytest.raises(CodecError, match="nested"):
            jsoncodec.decode(body)
        with pytest.raises(CodecError, match="nested"):
            jsoncodec.decode_lenient(body)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"s": "[" * 500, "t": "{" * 500})
    assert jsoncodec.decode(text, max_depth=2) == {"s": "[" * 500, "t": "{" * 500}


def test_the_size_limit_is_checked_before_decoding() -> None:
    assert jsoncodec.decode(b"[1]", max_bytes=3) == [1]
    with pytest.raises(CodecError, match="exceeds"):
        jsoncodec.decode(b"[1] ", max_bytes=3)


@pytest.mark.parametrize(
    "body",
    [b"NaN", b"[Infinity]", b"[-Infinity]", b'"\\ud800"', b"[1e400]", b"\xff", b"", b"[1,]", b"{'a': 1}"],
)
def test_strict_json_only(body: bytes) -> None:
    with pytest.raises(CodecError):
        jsoncodec.decode(body)


def test_lenient_reads_what_javascript_and_python_write() -> None:
    value = jsoncodec.decode_lenient('{"a": NaN, "b": [Infinity, -Infinity], "s": "x\\ud800y"}')
    assert isinstance(value, dict)
    assert math.isnan(value["a"])  # type: ignore[arg-type]
    assert value["b"] == [math.inf, -math.inf]
    assert value["s"] == "x\ud800y"


@pytest.mark.parametrize("body", ["{not json", "[1, 2", "[" + "9" * 5000 + "]"])
def test_lenient_still_refuses_what_is_not_json(body: str) -> None:
    with pytest.raises(CodecError):
        jsoncodec.decode_lenient(body)
