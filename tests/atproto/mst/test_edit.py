from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import EMPTY_ROOT, MstEditor, build, walk_leaves
from lairs_etl.errors import ConfigError, InvalidIdentifier, MstStructureError
from tests.atproto.mst._trees import DEEP_KEY, INTEROP, LEAF, keys_st, mappings_st, values_st


def _nothing(cid: Cid) -> bytes:
    raise KeyError(cid)


def _insert_all(editor: MstEditor, root: Cid, pairs: list[tuple[str, Cid]]) -> Cid:
    for key, value in pairs:
        root = editor.put(root, key, value)
    return root


@pytest.mark.parametrize("case", INTEROP["edge_cases"], ids=lambda c: c["comment"])
def test_interop_edge_cases(case: dict[str, Any]) -> None:
    editor = MstEditor(_nothing)
    root = _insert_all(editor, EMPTY_ROOT, [(k, LEAF) for k in case["keys"]])
    for step in case["steps"]:
        if "put" in step:
            root = editor.put(root, step["put"], LEAF)
        if "delete" in step:
            root = editor.delete(root, step["delete"])
        if step["root"] is not None:
            assert root.encode() == step["root"]


@pytest.mark.parametrize("case", INTEROP["commit_proofs"], ids=lambda c: c["comment"])
def test_commit_proof_fixtures_by_editing(case: dict[str, Any]) -> None:
    before = build([(k, LEAF) for k in sorted(case["keys"])])
    editor = MstEditor(before.blocks.__getitem__)
    root = before.root
    for key in case["adds"]:
        root = editor.put(root, key, LEAF)
    for key in case["dels"]:
        root = editor.delete(root, key)
    assert root.encode() == case["rootAfterCommit"]


@settings(max_examples=50, deadline=None)
@given(mappings_st, st.randoms(use_true_random=False))
def test_root_is_independent_of_insertion_order(mapping: dict[str, Cid], rnd: random.Random) -> None:
    pairs = list(mapping.items())
    rnd.shuffle(pairs)
    editor = MstEditor(_nothing)
    root = _insert_all(editor, EMPTY_ROOT, pairs)
    built = build(sorted(pairs))
    assert root == built.root
    assert editor.new_blocks(root) == built.blocks


@settings(max_examples=50, deadline=None)
@given(mappings_st, keys_st, values_st)
def test_delete_undoes_insert(mapping: dict[str, Cid], key: str, value: Cid) -> None:
    mapping.pop(key, None)
    mapping.pop(DEEP_KEY, None)
    mapping[DEEP_KEY] = value  # a deep tree makes splits and merges cross empty layers
    base = build(sorted(mapping.items()))
    editor = MstEditor(base.blocks.__getitem__)
    grown = editor.put(base.root, key, value)
    assert grown != base.root
    assert editor.delete(grown, key) == base.root


@settings(max_examples=40, deadline=None)
@given(mappings_st, st.data())
def test_deleting_everything_gives_the_empty_tree(mapping: dict[str, Cid], data: st.DataObject) -> None:
    base = build(sorted(mapping.items()))
    editor = MstEditor(base.blocks.__getitem__)
    order = data.draw(st.permutations(sorted(mapping)))
    root = base.root
    for i, key in enumerate(order):
        root = editor.delete(root, key)
        if i % 7 == 0:
            left = sorted((k, mapping[k]) for k in order[i + 1 :])
            assert root == build(left).root
    assert root == EMPTY_ROOT


def test_noop_edits_keep_the_root() -> None:
    base = build([("coll/a", LEAF), ("coll/b", LEAF)])
    editor = MstEditor(base.blocks.__getitem__)
    assert editor.put(base.root, "coll/a", LEAF) == base.root
    assert editor.delete(base.root, "coll/zzz") == base.root
    assert editor.delete(EMPTY_ROOT, "coll/a") == EMPTY_ROOT


def test_updating_a_value_changes_only_the_path() -> None:
    pairs = [(f"coll/{i:05d}", LEAF) for i in range(500)]
    base = build(pairs)
    editor = MstEditor(base.blocks.__getitem__)
    other = Cid.decode("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
    root = editor.put(base.root, "coll/00250", other)
    expected = build([(k, other if k == "coll/00250" else v) for k, v in pairs])
    assert root == expected.root
    new = editor.new_blocks(root)
    assert set(new) == set(expected.blocks) - set(base.blocks)
    assert len(new) <= 8  # one node per layer, not the whole tree
    assert dict(walk_leaves(root, {**base.blocks, **new}.__getitem__))["coll/00250"] == other


def test_editor_refuses_bad_input_and_bad_trees() -> None:
    base = build([("coll/a", LEAF)])
    editor = MstEditor(base.blocks.__getitem__)
    with pytest.raises(InvalidIdentifier):
        editor.put(base.root, "bad key", LEAF)
    with pytest.raises(ConfigError):
        editor.put(base.root, "coll/b", "not a cid")  # type: ignore[arg-type]
    with pytest.raises(MstStructureError):
        MstEditor(_nothing).put(base.root, "coll/b", LEAF)  # root block missing
