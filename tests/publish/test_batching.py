"""Calls hold at most 200 writes and 1,000,000 bytes; cycles are not split when they fit."""

from __future__ import annotations

import json
import math

import pytest

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import ConfigError
from lairs_etl.publish import MAX_BODY_BYTES, Write, pack_calls

DID = "did:plc:abcdefghijklmnopqrstuvwx"
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
