"""Pure rules of the fetch package: collection filters, MST prefixes, the auto choice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lairs_etl.atproto.fetch as fetch
from lairs_etl.atproto.fetch import CollectionFilter, choose_mode
from lairs_etl.atproto.mst import EMPTY_ROOT
from lairs_etl.errors import InvalidIdentifier

LAYERS_NS = CollectionFilter.of(["pub.layers."])


@pytest.mark.parametrize(
    ("entries", "collection", "tracked"),
    [
        (["pub.layers."], "pub.layers.expression.expression", True),
        (["pub.layers.*"], "pub.layers.graph.graphEdge", True),
        (["pub.layers."], "pub.layersx.thing", False),
        (["pub.layers."], "app.bsky.feed.post", False),
        (["pub.layers.graph.graphEdge"], "pub.layers.graph.graphEdge", True),
        (["pub.layers.graph.graphEdge"], "pub.layers.graph.graphEdgeSet", False),
        ([], "pub.layers.graph.graphEdge", False),
    ],
)
def test_collection_filter_membership(entries: list[str], collection: str, tracked: bool) -> None:
    assert (collection in CollectionFilter.of(entries)) is tracked
    assert CollectionFilter.of(entries).matches_key(f"{collection}/3kabc") is tracked


def test_mst_prefixes_drop_what_a_namespace_covers() -> None:
    tracked = CollectionFilter.of(["pub.layers.graph.graphEdge", "pub.layers.", "app.bsky.feed.post"])
    assert tracked.mst_prefixes() == ["pub.layers.", "app.bsky.feed.post/"]


def test_an_exact_nsid_prefix_does_not_catch_longer_collection_names() -> None:
    (prefix,) = CollectionFilter.of(["pub.layers.graph.graphEdge"]).mst_prefixes()
    assert not "pub.layers.graph.graphEdgeSet/3kabc".startswith(prefix)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["app.bsky.feed.post", "pub.layers.graph.graphEdge", "pub.layers.graph.graphEdgeSet", "pub.x"]
            ),
            st.sampled_from(["3kabc", "3kabd", "self"]),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_keep_agrees_with_matches_key_in_any_order(pairs: list[tuple[str, str]], in_order: bool) -> None:
    tracked = CollectionFilter.of(["pub.layers.graph.graphEdge", "app.bsky."])
    leaves = [(f"{collection}/{rkey}", EMPTY_ROOT) for collection, rkey in pairs]
    if in_order:
        leaves.sort()
    assert tracked.keep(leaves) == [leaf for leaf in leaves if tracked.matches_key(leaf[0])]


@pytest.mark.parametrize("entry", ["not an nsid", "pub", "pub..layers."])
def test_collection_filter_rejects_garbage(entry: str) -> None:
    with pytest.raises(InvalidIdentifier):
        CollectionFilter.of([entry])


@pytest.mark.parametrize(
    ("repo_collections", "incremental", "mode"),
    [
        (["pub.layers.expression.expression", "pub.layers.graph.graphEdge"], False, "car"),
        ([], False, "car"),
        (["pub.layers.expression.expression", "app.bsky.feed.post"], False, "tree"),
        (["app.bsky.feed.post"], False, "tree"),
        (None, False, "tree"),
        (["app.bsky.feed.post"], True, "car"),
    ],
)
def test_auto_rule(repo_collections: list[str] | None, incremental: bool, mode: str) -> None:
    assert choose_mode(repo_collections, LAYERS_NS, incremental=incremental) == mode


def test_public_surface_is_sorted_and_importable() -> None:
    assert fetch.__all__ == sorted(fetch.__all__, key=lambda n: (not n.isupper(), n))
    for name in fetch.__all__:
        assert getattr(fetch, name) is not None
