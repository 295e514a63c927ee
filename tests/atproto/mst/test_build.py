from __future__ import annotations

from typing import Any

import cbrrr
import pytest
from atmst.blockstore import MemoryBlockStore as AtmstStore  # type: ignore[import-untyped]  # atmst ships no py.typed
from atmst.mst.node_store import NodeStore  # type: ignore[import-untyped]
from atmst.mst.node_wrangler import NodeWrangler  # type: ignore[import-untyped]
from hypothesis import given, settings

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import EMPTY_ROOT, build, walk_nodes
from lairs_etl.errors import ConfigError, InvalidIdentifier
from tests.atproto.mst._trees import INTEROP, LEAF, mappings_st


def _root_of(keys: list[str]) -> str:
    return build([(k, LEAF) for k in sorted(keys)]).root.encode()


@pytest.mark.parametrize("case", INTEROP["known_maps"], ids=lambda c: c["comment"])
def test_known_maps_have_the_reference_root(case: dict[str, Any]) -> None:
    assert _root_of(case["keys"]) == case["root"]


@pytest.mark.parametrize("case", INTEROP["commit_proofs"], ids=lambda c: c["comment"])
def test_commit_proof_fixtures_before_and_after(case: dict[str, Any]) -> None:
    after = (set(case["keys"]) | set(case["adds"])) - set(case["dels"])
    assert _root_of(case["keys"]) == case["rootBeforeCommit"]
    assert _root_of(sorted(after)) == case["rootAfterCommit"]


def test_empty_build_is_the_empty_tree() -> None:
    tree = build([])
    assert tree.root == EMPTY_ROOT
    assert set(tree.blocks) == {EMPTY_ROOT}


def _atmst_root(mapping: dict[str, Cid]) -> Cid:
    wrangler = NodeWrangler(NodeStore(AtmstStore()))
    root = wrangler.ns.get_node(None).cid
    for key, value in mapping.items():
        root = wrangler.put_record(root, key, cbrrr.CID(bytes(value)))  # atmst encodes cbrrr's own class
    return Cid(bytes(root))


@settings(max_examples=60, deadline=None)
@given(mappings_st)
def test_build_agrees_with_atmst(mapping: dict[str, Cid]) -> None:
    tree = build(sorted(mapping.items()))
    assert tree.root == _atmst_root(mapping)


@settings(max_examples=40, deadline=None)
@given(mappings_st)
def test_blocks_are_exactly_the_tree_nodes(mapping: dict[str, Cid]) -> None:
    tree = build(sorted(mapping.items()))
    reachable = dict(walk_nodes(tree.root, tree.blocks.__getitem__))
    assert set(reachable) == set(tree.blocks)


def test_build_refuses_unsorted_or_repeated_keys() -> None:
    with pytest.raises(ConfigError):
        build([("coll/b", LEAF), ("coll/a", LEAF)])
    with pytest.raises(ConfigError):
        build([("coll/a", LEAF), ("coll/a", LEAF)])


def test_build_refuses_bad_keys_and_values() -> None:
    with pytest.raises(InvalidIdentifier):
        build([("no-slash", LEAF)])
    with pytest.raises(ConfigError):
        build([("coll/a", "bafy-not-a-cid")])  # type: ignore[list-item]
