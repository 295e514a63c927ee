"""Commit and actor-map blocks: round trips, strict decoding, cheap carry-over."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import MemoryBlockStore
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.errors import RepositoryCorruptError
from lairs_etl.repo.objects import ActorState, Commit, build_actor_map, lookup_actor, read_actor_map

ROOT = cid_for_dag_cbor(b"\xa0")


def state(n: int, **extra: object) -> ActorState:
    return ActorState(root=cid_for_dag_cbor(cbor.encode(n)), fetched_at="2026-11-21T00:00:00Z",
                      lexicon_hash="sha256-x", **extra)  # type: ignore[arg-type]


def test_commit_round_trips_with_stable_cid() -> None:
    commit = Commit(ROOT, (cid_for_dag_cbor(b"\x01"),), "msg", "me", "2026-11-21T00:00:00Z")
    again = Commit.decode(commit.data)
    assert again == commit
    assert again.cid == commit.cid == cid_for_dag_cbor(commit.data)


def test_commit_cid_depends_on_every_field() -> None:
    base = Commit(ROOT, (), "m", "a", "t")
    variants = [
        Commit(cid_for_dag_cbor(b"\x02"), (), "m", "a", "t"),
        Commit(ROOT, (ROOT,), "m", "a", "t"),
        Commit(ROOT, (), "m2", "a", "t"),
        Commit(ROOT, (), "m", "a2", "t"),
        Commit(ROOT, (), "m", "a", "t2"),
    ]
    assert len({base.cid, *(v.cid for v in variants)}) == 6


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "other", "version": 1},
        {"type": "lairs-etl/commit", "version": 2, "actors": ROOT, "parents": [], "message": "",
         "author": "", "time": ""},
        {"type": "lairs-etl/commit", "version": 1, "actors": "notacid", "parents": [], "message": "",
         "author": "", "time": ""},
        {"type": "lairs-etl/commit", "version": 1, "actors": ROOT, "parents": [], "message": "",
         "author": "", "time": "", "extra": 1},
        [1, 2],
    ],
)
def test_non_commits_are_refused(raw: object) -> None:
    with pytest.raises(RepositoryCorruptError):
        Commit.decode(cbor.encode(raw))


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(RepositoryCorruptError):
        Commit.decode(b"\xff\x00")


def test_actor_state_round_trips_and_omits_absent_fields() -> None:
    full = state(1, pds_commit=ROOT, pds_rev="3l", valid_count=3, invalid_count=0)
    assert ActorState.from_ipld(full.to_ipld()) == full
    assert "pdsRev" not in state(1).to_ipld()
    with pytest.raises(RepositoryCorruptError):
        ActorState.from_ipld({"root": "x"})


def test_touching_one_actor_writes_two_blocks_and_keeps_other_shards() -> None:
    store = MemoryBlockStore()
    dids = [f"did:plc:actor{i:020d}" for i in range(300)]
    root, blocks = build_actor_map(store, None, {d: state(i) for i, d in enumerate(dids)})
    store.put_many(blocks.items())
    root2, blocks2 = build_actor_map(store, root, {dids[7]: state(1000)})
    assert len(blocks2) == 2  # the root and one shard
    store.put_many(blocks2.items())
    assert lookup_actor(store, root2, dids[7]) == state(1000)
    assert lookup_actor(store, root2, dids[8]) == state(8)
    assert lookup_actor(store, root, dids[7]) == state(7)  # the old map is untouched
    assert read_actor_map(store, root2) == {d: state(1000 if i == 7 else i) for i, d in enumerate(dids)}


def test_missing_shard_is_corruption() -> None:
    store = MemoryBlockStore()
    root, blocks = build_actor_map(store, None, {"did:plc:a": state(1)})
    store.put(root, blocks[root])
    with pytest.raises(RepositoryCorruptError):
        read_actor_map(store, root)


changes = st.dictionaries(
    st.sampled_from([f"did:plc:x{i}" for i in range(40)]),
    st.one_of(st.none(), st.integers(0, 5)),
    max_size=15,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(changes, min_size=1, max_size=6))
def test_actor_map_matches_a_dict_model(steps: list[dict[str, int | None]]) -> None:
    store = MemoryBlockStore()
    model: dict[str, ActorState] = {}
    root = None
    for step in steps:
        update = {did: None if n is None else state(n) for did, n in step.items()}
        root, blocks = build_actor_map(store, root, update)
        store.put_many(blocks.items())
        for did, value in update.items():
            if value is None:
                model.pop(did, None)
            else:
                model[did] = value
        assert read_actor_map(store, root) == dict(sorted(model.items()))
    # The map is a function of its content, not of the order of the changes.
    fresh, _ = build_actor_map(MemoryBlockStore(), None, model)
    assert fresh == root
