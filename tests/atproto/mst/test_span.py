from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lairs_etl.atproto.mst import KeySpan
from tests.atproto.mst._trees import keys_st


@pytest.mark.parametrize(
    ("prefix", "start", "end"),
    [("pub.layers.", "pub.layers.", "pub.layers/"), ("a", "a", "b"), ("", "", None)],
)
def test_prefix_span_bounds(prefix: str, start: str, end: str | None) -> None:
    assert KeySpan.for_prefix(prefix) == KeySpan(start, end)


@given(st.sampled_from(["pub.layers.", "app.bsky.feed.", "zz", "p"]), keys_st)
def test_prefix_span_contains_exactly_the_prefixed_keys(prefix: str, key: str) -> None:
    assert KeySpan.for_prefix(prefix).contains(key) == key.startswith(prefix)


@given(st.lists(keys_st, min_size=3, max_size=3, unique=True), st.sampled_from(["pub.layers.", "app.", "z"]))
def test_overlap_never_misses_a_key_between_bounds(keys: list[str], prefix: str) -> None:
    lo, key, hi = sorted(keys)
    span = KeySpan.for_prefix(prefix)
    if span.contains(key):
        assert span.overlaps(lo, hi)
        assert span.overlaps(None, hi)
        assert span.overlaps(lo, None)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        ("app.bsky.feed.like/a", "app.bsky.feed.post/b", False),
        ("app.bsky.feed.like/a", "pub.layers.a/b", True),
        ("pub.layers.a/x", "pub.layers.b/y", True),
        ("pub.layers/", None, False),
        ("zz/a", None, False),
        (None, "pub.layers.", False),
        (None, "pub.layers.a/b", True),
        (None, None, True),
    ],
)
def test_overlap_table(lo: str | None, hi: str | None, expected: bool) -> None:
    assert KeySpan.for_prefix("pub.layers.").overlaps(lo, hi) is expected

