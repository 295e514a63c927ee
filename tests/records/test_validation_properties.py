"""Properties: the Rust fast paths never accept what the exact checks refuse; records round-trip."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.records import validate_record
from lairs_etl.records._fastpath import FAST_CAPS, FAST_PATTERNS
from lairs_etl.records.formats import FORMAT_CHECKS

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("fmt", sorted(FAST_PATTERNS))
def test_fast_path_is_sound(fmt: str) -> None:
    cap = FAST_CAPS.get(fmt)

    @_SETTINGS
    @given(st.from_regex(FAST_PATTERNS[fmt], fullmatch=True))
    def check(value: str) -> None:
        if cap is None or len(value) <= cap:
            assert FORMAT_CHECKS[fmt](value), value

    check()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def test_round_trip_with_extra_properties(minimal_records: dict[str, dict[str, Any]]) -> None:
    @_SETTINGS
    @given(
        nsid=st.sampled_from(sorted(minimal_records)),
        extras=st.dictionaries(st.text(min_size=1, max_size=10).map(lambda k: f"x-{k}"), _JSON, max_size=4),
    )
    def check(nsid: str, extras: dict[str, Any]) -> None:
        record = {**copy.deepcopy(minimal_records[nsid]), **extras}
        result = validate_record(record)
        assert result.valid, result.diagnostics
        assert result.model is not None
        assert result.model.to_json() == record

    check()
