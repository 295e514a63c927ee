from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.atproto.mst import (
    EMPTY_ROOT,
    Node,
    TreeWalk,
    build,
    key_layer,
    lookup,
    walk_leaves,
    walk_nodes,
)
from lairs_etl.errors import BlockHashMismatch, MstStructureError
from tests.atproto.mst._trees import (
    DEEP_KEY,
    LEAF,
    compress,
    full_keys,
    keys_st,
    mappings_st,
    node_cids,
    replace_node,
    values_st,
    wire,
)


@settings(max_examples=50, deadline=None)
@given(mappings_st)
def test_walk_returns_exactly_the_pairs_in_order(mapping: dict[str, Cid]) -> None:
    tree = build(sorted(mapping.items()))
    assert list(walk_leaves(tree.root, tree.blocks.__getitem__)) == sorted(mapping.items())


@settings(max_examples=50, deadline=None)
@given(mappings_st, st.lists(st.sampled_from(["pub.layers.", "app.bsky.feed.l", "zz", "none."]), max_size=2))
def test_prefix_walk_returns_matching_pairs(mapping: dict[str, Cid], prefixes: list[str]) -> None:
    tree = build(sorted(mapping.items()))
    expected = sorted((k, v) for k, v in mapping.items() if any(k.startswith(p) for p in prefixes))
    assert list(walk_leaves(tree.root, tree.blocks.__getitem__, prefixes=prefixes)) == expected


@settings(max_examples=50, deadline=None)
@given(mappings_st, keys_st)
def test_lookup_finds_present_keys_only(mapping: dict[str, Cid], probe: str) -> None:
    tree = build(sorted(mapping.items()))
    get = tree.blocks.__getitem__
    for key, value in mapping.items():
        assert lookup(tree.root, key, get) == value
    assert lookup(tree.root, probe, get) == mapping.get(probe)


def test_walk_nodes_yields_parents_first() -> None:
    tree = build([(f"coll/{i:04d}", LEAF) for i in range(300)])
    seen: set[Cid] = set()
    for cid, node in walk_nodes(tree.root, tree.blocks.__getitem__):
        assert cid == tree.root or cid in seen
        seen.update(t for t in node.subtrees if t is not None)
    assert seen | {tree.root} == set(tree.blocks)


# --- corruption: every way to break a tree raises -------------------------------------

Mutation = Callable[[dict[Cid, bytes], Cid, Any], "Any | None"]


def _reorder(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    keys = full_keys(raw)
    if len(keys) < 2:
        return None
    keys[0], keys[1] = keys[1], keys[0]
    return {**raw, "e": compress(keys, raw["e"])}


def _non_minimal_prefix(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    keys = full_keys(raw)
    for i, entry in enumerate(raw["e"]):
        if entry["p"] > 0:
            entries = [dict(e) for e in raw["e"]]
            entries[i] = {**entry, "p": entry["p"] - 1, "k": keys[i][entry["p"] - 1 :]}
            return {**raw, "e": entries}
    return None


def _raw_codec_link(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    return {**raw, "l": cid_for_raw(b"not a node")}


def _skip_a_layer(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    # Link straight to a grandchild: keys in range, but one layer too low.
    for child in [raw["l"], *(e["t"] for e in raw["e"])]:
        if child is None:
            continue
        grand = wire(blocks, child)
        for g in [grand["l"], *(e["t"] for e in grand["e"])]:
            if g is not None:
                return _relink(raw, child, g)
    return None


def _swap_siblings(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    links = [t for t in [raw["l"], *(e["t"] for e in raw["e"])] if t is not None]
    if len(links) < 2:
        return None
    return _swap(raw, links[0], links[1])


def _empty_child(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    blocks[EMPTY_ROOT] = Node.empty().encode()
    for child in [raw["l"], *(e["t"] for e in raw["e"])]:
        if child is not None:
            return _relink(raw, child, EMPTY_ROOT)
    return None


def _link_below_layer_zero(blocks: dict[Cid, bytes], cid: Cid, raw: Any) -> Any | None:
    keys = full_keys(raw)
    if not keys or key_layer(keys[0]) != 0:
        return None
    below = build([(keys[0].decode() + "0", LEAF)])  # some real node, in range or not
    blocks.update(below.blocks)
    return {**raw, "l": below.root}


def _relink(raw: Any, old: Cid, new: Cid) -> Any:
    out = {**raw, "e": [dict(e) for e in raw["e"]]}
    if out["l"] == old:
        out["l"] = new
        return out
    for e in out["e"]:
        if e["t"] == old:
            e["t"] = new
            return out
    raise AssertionError("link not found")


def _swap(raw: Any, a: Cid, b: Cid) -> Any:
    placeholder = cid_for_dag_cbor(b"placeholder")
    return _relink(_relink(_relink(raw, a, placeholder), b, a), placeholder, b)


MUTATIONS: list[Mutation] = [
    _reorder,
    _non_minimal_prefix,
    _raw_codec_link,
    _skip_a_layer,
    _swap_siblings,
    _empty_child,
    _link_below_layer_zero,
]


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(keys_st, values_st, min_size=12, max_size=60), st.sampled_from(MUTATIONS), st.data())
def test_corrupted_trees_raise(mapping: dict[str, Cid], mutate: Mutation, data: st.DataObject) -> None:
    mapping[DEEP_KEY] = LEAF
    tree = build(sorted(mapping.items()))
    blocks = dict(tree.blocks)
    candidates = []
    for cid in node_cids(blocks, tree.root):
        bad = mutate(blocks, cid, wire(blocks, cid))
        if bad is not None:
            candidates.append((cid, bad))
    assert candidates, "every mutation applies to a deep tree of a dozen keys"
    target, bad = data.draw(st.sampled_from(candidates))
    root = replace_node(blocks, tree.root, target, bad)
    get = blocks.__getitem__
    with pytest.raises(MstStructureError):
        list(walk_leaves(root, get))
    with pytest.raises(MstStructureError):
        _walk_level_by_level(root, blocks)


def _walk_level_by_level(root: Cid, blocks: dict[Cid, bytes]) -> None:
    walk = TreeWalk(root)
    while not walk.done:
        walk.feed({cid: blocks[cid] for cid in walk.wanted()})


def test_untrimmed_root_is_refused() -> None:
    tree = build([("coll/a", LEAF)])
    top = Node((), (), (tree.root,))
    blocks = {**tree.blocks, top.cid: top.encode()}
    with pytest.raises(MstStructureError, match="root"):
        list(walk_leaves(top.cid, blocks.__getitem__))


def test_hash_mismatch_and_missing_blocks() -> None:
    tree = build([(f"coll/{i:03d}", LEAF) for i in range(50)])
    blocks = dict(tree.blocks)
    victim = next(c for c in blocks if c != tree.root)
    blocks[victim] = Node.empty().encode()
    with pytest.raises(BlockHashMismatch):
        list(walk_leaves(tree.root, blocks.__getitem__))
    del blocks[victim]
    with pytest.raises(MstStructureError, match="missing") as info:
        list(walk_leaves(tree.root, blocks.__getitem__))
    assert info.value.cid == victim.encode()


def test_values_may_be_any_cid() -> None:
    # The spec asks to keep record links as given, so a raw-codec value is accepted.
    value = cid_for_raw(b"blob")
    tree = build([("coll/a", value)])
    assert list(walk_leaves(tree.root, tree.blocks.__getitem__)) == [("coll/a", value)]
    assert cbor.decode(tree.blocks[tree.root])["e"][0]["v"] == value


def test_empty_tree_walks_to_nothing() -> None:
    blocks = {EMPTY_ROOT: Node.empty().encode()}
    assert list(walk_leaves(EMPTY_ROOT, blocks.__getitem__)) == []
    assert lookup(EMPTY_ROOT, "coll/a", blocks.__getitem__) is None
