"""Calls hold at most 200 writes and 1,000,000 bytes; cycles are not split when they fit."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import ConfigError
from lairs_etl.publish import MAX_BODY_BYTES, Write, pack_calls

DID = "did:plc:abcdefghijklmnopqrstuvwx"
E = "pub.layers.expression.expression"
CID = cid_for_dag_cbor(b"\xa0")


def _write(i: int, size: int = 10) -> Write:
    uri = AtUri.for_record(DID, "pub.layers.expression.expression", f"3aaaaaa{i:06d}")
    return Write("create", uri, CID, {"$type": "pub.layers.expression.expression", "text": "é" * size})


def _body_size(writes: tuple[Write, ...]) -> int:
    body = {"repo": DID, "writes": [w.to_json() for w in writes], "swapCommit": CID.encode()}
    return len(json.dumps(body, separators=(",", ":")))


@pytest.mark.parametrize("n", [1, 199, 200, 201, 1000, 1001])
def test_small_writes_need_ceil_n_over_200_calls(n: int) -> None:
    batching = pack_calls([(_write(i),) for i in range(n)], DID)
    assert len(batching.calls) == math.ceil(n / 200)
    assert [w.uri for c in batching.calls for w in c] == [_write(i).uri for i in range(n)]


def test_the_byte_cap_holds_for_the_serialised_body() -> None:
    writes = [(_write(i, size=20_000),) for i in range(60)]  # "é" becomes \u00e9: 6 bytes each
    batching = pack_calls(writes, DID)
    assert len(batching.calls) > 1
    assert all(_body_size(call) <= MAX_BODY_BYTES for call in batching.calls)
    assert all(_body_size(call) > MAX_BODY_BYTES * 0.9 for call in batching.calls[:-1])  # packed, not timid


def test_a_cycle_moves_whole_to_the_next_call() -> None:
    groups = [(_write(i),) for i in range(199)] + [(_write(199), _write(200))]
    calls = pack_calls(groups, DID).calls
    assert [len(c) for c in calls] == [199, 2]


def test_a_cycle_too_big_for_one_call_is_split_and_counted() -> None:
    batching = pack_calls([tuple(_write(i) for i in range(450))], DID)
    assert [len(c) for c in batching.calls] == [200, 200, 50]
    assert batching.split_cycles == 1


def test_a_single_oversized_write_is_refused() -> None:
    with pytest.raises(ConfigError):
        pack_calls([(_write(0, size=200_000),)], DID)


def _groups(*sizes: int, start: int = 0) -> list[tuple[Write, ...]]:
    out, i = [], start
    for size in sizes:
        out.append(tuple(_write(i + k) for k in range(size)))
        i += size
    return out


def test_independent_groups_fill_the_room_a_cycle_leaves() -> None:
    groups = _groups(*[1] * 199, 2, *[1] * 199)
    depends = [frozenset[int]() for _ in groups]
    assert len(pack_calls(groups, DID).calls) == 3  # in strict order a call boundary splits nothing
    calls = pack_calls(groups, DID, depends=depends).calls
    assert [len(c) for c in calls] == [200, 200]
    assert {w.uri for w in groups[199]} <= {w.uri for w in calls[1]}  # the cycle stayed whole


def test_a_group_never_lands_before_what_it_depends_on() -> None:
    groups = _groups(*[1] * 199, 2, 1)
    depends = [frozenset[int]() for _ in groups]
    depends[200] = frozenset({199})  # the last record references the cycle
    calls = pack_calls(groups, DID, depends=depends).calls
    assert [len(c) for c in calls] == [199, 3]
    assert calls[1][-1].uri == groups[200][0].uri


def test_deletes_wait_for_every_create_and_update() -> None:
    groups = _groups(*[1] * 199, 2)
    gone = AtUri.for_record(DID, "pub.layers.expression.expression", "3zzzzzzzzzzz2")
    groups.append((Write("delete", gone),))
    calls = pack_calls(groups, DID, depends=[frozenset[int]() for _ in groups]).calls
    assert [w.action for w in calls[-1]][-1] == "delete"
    assert len(calls[0]) == 199


def test_a_demo_corpus_needs_ceil_n_over_200_calls_in_reference_order() -> None:
    from lairs_etl.atproto.syntax import Did
    from lairs_etl.publish import LocalRecord, RemoteState, make_plan, record_references
    from tests.publish._corpus import demo_batch

    batch = demo_batch(DID, expressions=600)
    local = {f"{r.collection}/{r.rkey}": LocalRecord(r.cid, r.value()) for r in batch.records()}
    plan = make_plan(local, RemoteState(Did(DID), CID, "r", {}))
    calls = pack_calls(plan.groups, DID, depends=plan.depends).calls
    assert len(calls) == math.ceil(len(local) / 200)
    landed_by = {w.uri: i for i, call in enumerate(calls) for w in call}
    assert len(landed_by) == len(local)
    for write in plan.writes:
        assert write.uri.collection is not None
        for target in record_references(write.uri.collection, write.value):
            assert landed_by[target] <= landed_by[write.uri]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.lists(st.integers(0, 40), max_size=3), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_packing_respects_dependencies_caps_and_phases(spec: list[tuple[int, list[int], bool]]) -> None:
    # groups of 1-3 writes, each depending on some earlier groups; deletes (True) after upserts
    spec = sorted(spec, key=lambda item: item[2])
    groups, depends, i = [], [], 0
    for n, (size, deps, delete) in enumerate(spec):
        uris = [
            AtUri.for_record(DID, "pub.layers.expression.expression", f"3aaaaaa{i + k:06d}")
            for k in range(size)
        ]
        groups.append(tuple(Write("delete", u) if delete else Write("create", u, CID, {}) for u in uris))
        depends.append(frozenset(d for d in deps if d < n))
        i += size
    calls = pack_calls(groups, DID, depends=depends, max_writes=5).calls
    position = {w.uri: (c, k) for c, call in enumerate(calls) for k, w in enumerate(call)}
    assert len(position) == sum(len(g) for g in groups)  # every write exactly once
    assert all(len(call) <= 5 for call in calls)
    for n, group in enumerate(groups):
        if len(group) <= 5:
            assert len({position[w.uri][0] for w in group}) == 1  # a cycle stays in one call
        for d in depends[n]:
            assert position[groups[d][-1].uri] < position[group[0].uri]
    actions = [w.action for call in calls for w in call]
    assert actions == sorted(actions, key=lambda a: a == "delete")  # deletes after every upsert
