from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.syntax import Tid, is_tid
from lairs_etl.atproto.tid import next_tid, tid_from_parts, tid_timestamp
from lairs_etl.errors import InvalidIdentifier


def test_next_tid_strictly_increases_and_is_valid() -> None:
    tids = [next_tid() for _ in range(5000)]  # far more than one per microsecond
    assert all(isinstance(t, Tid) and is_tid(t) for t in tids)
    assert all(a < b for a, b in pairwise(tids))


def test_next_tid_is_about_now() -> None:
    drift = abs((tid_timestamp(next_tid()) - datetime.now(UTC)).total_seconds())
    assert drift < 5


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=2**53 - 1), st.integers(min_value=0, max_value=1023))
def test_parts_round_trip_and_sort_like_time(micros: int, clock_id: int) -> None:
    tid = tid_from_parts(micros, clock_id)
    assert is_tid(tid)
    assert tid_timestamp(tid) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    if micros < 2**53 - 1:
        assert tid < tid_from_parts(micros + 1, 0)


def test_known_tid() -> None:
    # The atproto spec's example TID; minted in 2023.
    assert tid_timestamp("3jzfcijpj2z2a").year == 2023
    assert tid_from_parts(0, 0) == "2222222222222"


@pytest.mark.parametrize(("micros", "clock_id"), [(-1, 0), (2**53, 0), (0, 1024), (0, -1)])
def test_out_of_range_parts(micros: int, clock_id: int) -> None:
    with pytest.raises(InvalidIdentifier):
        tid_from_parts(micros, clock_id)


def test_timestamp_of_invalid_tid() -> None:
    with pytest.raises(InvalidIdentifier):
        tid_timestamp("not-a-tid")
