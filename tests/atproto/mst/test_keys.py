from __future__ import annotations

from typing import Any

import pytest

from lairs_etl.atproto.mst import check_key, is_valid_key, key_layer
from lairs_etl.atproto.mst.keys import common_prefix_len
from lairs_etl.errors import InvalidIdentifier
from tests.atproto.mst._trees import INTEROP


@pytest.mark.parametrize("case", INTEROP["key_heights"], ids=lambda c: c["key"] or "<empty>")
def test_key_layer_matches_interop_vectors(case: dict[str, Any]) -> None:
    assert key_layer(case["key"]) == case["height"]


@pytest.mark.parametrize("case", INTEROP["common_prefix"])
def test_common_prefix_len_matches_interop_vectors(case: dict[str, Any]) -> None:
    assert common_prefix_len(case["left"].encode(), case["right"].encode()) == case["len"]


@pytest.mark.parametrize(
    "key",
    [
        "coll/key0",
        "coll/key_",
        "coll/key:",
        "coll/key.",
        "coll/key-",
        "coll/key~",
        "coll/...",
        "...a/.b",
        "pub.layers.annotation.annotationLayer/3l2abcdefgh22",
        "A0/374913",
        "coll/" + "a" * (1024 - 5),
    ],
)
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key)
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "asdf",
        "nested/collection/asdf",
        "coll/",
        "/rkey",
        "coll/jalapeñoA",
        "coll/abc💩",
        "coll/key$",
        "coll/key%",
        "coll/key(",
        "coll/key+",
        "coll/key=",
        "coll/key\x00",
        "coll/.",
        "coll/..",
        "./rkey",
        "../rkey",
        "coll/" + "a" * (1025 - 5),
    ],
)
def test_invalid_keys_are_refused(key: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(InvalidIdentifier) as info:
        check_key(key)
    assert info.value.kind == "mst key"
