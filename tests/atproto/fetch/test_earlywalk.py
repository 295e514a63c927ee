"""The walk done during the download: any block order gives the full walk's leaves."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.commit import sign_commit
from lairs_etl.atproto.crypto import generate_private_key
from lairs_etl.atproto.fetch._earlywalk import EarlyWalk
from lairs_etl.atproto.mst import build, walk_leaves
from lairs_etl.atproto.syntax import Did, Tid
from lairs_etl.errors import MstStructureError

_KEY = generate_private_key("k256")


def _repo(count: int) -> tuple[Cid, dict[Cid, bytes], list[tuple[str, Cid]]]:
    records = {f"pub.layers.expression.expression/3k{i:011d}": cbor.encode({"n": i}) for i in range(count)}
    pairs = sorted((key, cid_for_dag_cbor(block)) for key, block in records.items())
    tree = build(pairs)
    head, commit = sign_commit(Did("did:plc:" + "b" * 24), tree.root, Tid("3kaaaaaaaaaa2"), None, _KEY)
    blocks = {head: commit, **tree.blocks, **{cid_for_dag_cbor(b): b for b in records.values()}}
    return head, blocks, list(walk_leaves(tree.root, blocks.__getitem__))


@settings(max_examples=25, deadline=None)
@given(count=st.integers(min_value=0, max_value=400), seed=st.integers())
def test_any_block_order_yields_the_full_walks_leaves(count: int, seed: int) -> None:
    head, blocks, expected = _repo(count)
    order = list(blocks.items())
    random.Random(seed).shuffle(order)
    early = EarlyWalk(head, budget=1 << 30)
    for cid, data in order:
        early.offer(cid, data)
    early.finish()
    assert early.error is None
    assert early.leaves() == expected


def test_a_missing_node_leaves_the_walk_incomplete() -> None:
    head, blocks, _ = _repo(300)
    node = next(cid for cid, data in blocks.items() if data.startswith(b"\xa2ae") and cid != head)
    early = EarlyWalk(head, budget=1 << 30)
    for cid, data in blocks.items():
        if cid != node:
            early.offer(cid, data)
    early.finish()
    assert early.leaves() is None


def test_a_spent_budget_gives_up_instead_of_holding_every_node() -> None:
    head, blocks, _ = _repo(300)
    early = EarlyWalk(head, budget=500)
    for cid, data in blocks.items():
        early.offer(cid, data)
    early.finish()
    assert early.leaves() is None
    assert early.error is None


def test_every_leaf_is_reported_as_an_entry_while_streaming() -> None:
    head, blocks, expected = _repo(300)
    seen: list[tuple[str, Cid]] = []
    early = EarlyWalk(head, budget=1 << 30, on_entry=lambda key, cid: seen.append((key, cid)))
    for cid, data in blocks.items():
        early.offer(cid, data)
    early.finish()
    assert sorted(seen) == expected == early.leaves()


def test_a_malformed_node_in_the_tree_is_reported_after_the_walk() -> None:
    head, blocks, _ = _repo(300)
    node = next(cid for cid, data in blocks.items() if data.startswith(b"\xa2ae") and cid != head)
    early = EarlyWalk(head, budget=1 << 30)
    for cid, data in blocks.items():
        early.offer(cid, b"\xa2ae\xff" if cid == node else data)
    early.finish()
    assert isinstance(early.error, MstStructureError)
    assert early.leaves() is None
