from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import EMPTY_ROOT, KeySpan, Node, TreeWalk, build, key_layer, walk_leaves
from lairs_etl.errors import BlockHashMismatch, ConfigError
from tests.atproto.mst._trees import keys_st, mappings_st, value_for


def _drive(walk: TreeWalk, blocks: dict[Cid, bytes], *, batch: int | None = None) -> int:
    rounds = 0
    while not walk.done:
        wanted = walk.wanted()[:batch]
        walk.feed({cid: blocks[cid] for cid in wanted})
        rounds += 1
    return rounds


@settings(max_examples=60, deadline=None)
@given(mappings_st, st.sampled_from([["pub.layers."], ["app.bsky.feed.like/", "zz"], None]), st.data())
def test_partial_walk_returns_the_matching_pairs(
    mapping: dict[str, Cid], prefixes: list[str] | None, data: st.DataObject
) -> None:
    tree = build(sorted(mapping.items()))
    walk = TreeWalk(tree.root, prefixes=prefixes)
    _drive(walk, tree.blocks, batch=data.draw(st.sampled_from([None, 1, 2])))
    expected = sorted(
        (k, v) for k, v in mapping.items() if prefixes is None or any(k.startswith(p) for p in prefixes)
    )
    assert walk.leaves() == expected
    assert walk.nodes_verified <= len(tree.blocks)


def test_partial_walk_fetches_only_the_prefix_region_level_by_level() -> None:
    pairs = [(f"app.bsky.feed.like/{i:06d}", value_for(i)) for i in range(6000)]
    pairs += [(f"pub.layers.expression.expression/{i:04d}", value_for(-i)) for i in range(40)]
    pairs += [(f"zz.after.layers/{i:04d}", value_for(i)) for i in range(2000)]
    tree = build(sorted(pairs))
    walk = TreeWalk(tree.root, prefixes=["pub.layers."])
    rounds = _drive(walk, tree.blocks)
    assert walk.leaves() == [p for p in pairs if p[0].startswith("pub.layers.")]
    root_layer = key_layer(max(pairs, key=lambda p: key_layer(p[0]))[0])
    assert rounds == root_layer + 1  # one batch per layer
    assert walk.nodes_verified < len(tree.blocks) / 20


def test_extra_blocks_are_ignored_and_missing_ones_stay_wanted() -> None:
    tree = build([(f"pub.layers.a/{i:04d}", value_for(i)) for i in range(200)])
    walk = TreeWalk(tree.root)
    walk.feed({})
    assert walk.wanted() == [tree.root]
    unrelated = Node.empty()
    walk.feed({tree.root: tree.blocks[tree.root], unrelated.cid: unrelated.encode()})
    assert tree.root not in walk.wanted()
    with pytest.raises(ConfigError):
        walk.leaves()
    _drive(walk, tree.blocks)
    assert len(walk.leaves()) == 200


def test_bad_block_is_refused() -> None:
    tree = build([(f"pub.layers.a/{i:04d}", value_for(i)) for i in range(200)])
    walk = TreeWalk(tree.root)
    with pytest.raises(BlockHashMismatch):
        walk.feed({tree.root: Node.empty().encode()})


def test_empty_tree() -> None:
    walk = TreeWalk(EMPTY_ROOT, prefixes=["pub.layers."])
    walk.feed({EMPTY_ROOT: Node.empty().encode()})
    assert walk.done
    assert walk.leaves() == []


@settings(max_examples=60, deadline=None)
@given(mappings_st, st.lists(keys_st, min_size=2, max_size=2), st.sampled_from([None, ["zz"]]))
def test_span_and_prefix_filters_combine(
    mapping: dict[str, Cid], bounds: list[str], prefixes: list[str] | None
) -> None:
    start, end = sorted(bounds)
    span = KeySpan(start, end)
    tree = build(sorted(mapping.items()))
    walk = TreeWalk(tree.root, prefixes=prefixes, spans=[span])
    _drive(walk, tree.blocks)
    expected = sorted(
        (k, v)
        for k, v in mapping.items()
        if start <= k < end or any(k.startswith(p) for p in prefixes or ())
    )
    assert walk.leaves() == expected
    assert list(walk_leaves(tree.root, tree.blocks.__getitem__, prefixes=prefixes, spans=[span])) == expected


@settings(max_examples=30, deadline=None)
@given(mappings_st)
def test_feeding_decoded_nodes_gives_the_same_walk(mapping: dict[str, Cid]) -> None:
    tree = build(sorted(mapping.items()))
    nodes = {cid: Node.decode(data, cid) for cid, data in tree.blocks.items()}
    walk = TreeWalk(tree.root)
    while not walk.done:
        walk.feed_nodes({cid: nodes[cid] for cid in walk.wanted()})
    assert walk.leaves() == sorted(mapping.items())


def test_a_decoded_node_under_the_wrong_cid_is_refused() -> None:
    tree = build([(f"pub.layers.a/{i:04d}", value_for(i)) for i in range(200)])
    walk = TreeWalk(tree.root)
    with pytest.raises(BlockHashMismatch):
        walk.feed_nodes({tree.root: Node.empty()})
