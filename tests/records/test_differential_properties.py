"""Spec expectations without Node: generated records and mutants get the verdict they should.

The Node-backed differential test is the oracle; these properties run everywhere and
pin the verdicts that do not depend on a reading of the reference (valid records stay
valid, each breaking mutation is refused with a diagnostic at the broken path).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from lairs_etl.records import validate_record

from .strategies import LexiconTree, samples, valid_records

TREE = LexiconTree.load()
_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("nsid", TREE.record_types)
@_SETTINGS
@given(data=st.data())
def test_generated_records_are_valid(nsid: str, data: st.DataObject) -> None:
    record = data.draw(valid_records(TREE, nsid))
    result = validate_record(record)
    assert result.valid, result.diagnostics
    assert result.nsid == nsid
    assert result.diagnostics == ()


@pytest.mark.parametrize("nsid", TREE.record_types)
@_SETTINGS
@given(data=st.data())
def test_a_record_without_created_at_is_refused_at_that_path(nsid: str, data: st.DataObject) -> None:
    # The Layers documentation's own examples omit createdAt: users must be told exactly why.
    record = data.draw(valid_records(TREE, nsid))
    del record["createdAt"]
    result = validate_record(record)
    assert not result.valid
    assert [(d.path, d.code) for d in result.diagnostics] == [("$.createdAt", "required")]


@pytest.mark.parametrize("nsid", TREE.record_types)
@_SETTINGS
@given(data=st.data())
def test_mutants_get_the_verdict_the_spec_gives_them(nsid: str, data: st.DataObject) -> None:
    for sample in data.draw(samples(TREE, nsid)):
        if sample.expect is None:
            continue  # edge cases: only the reference (test_differential) settles them
        result = validate_record(sample.record)
        assert result.valid == sample.expect, (sample.mutation, sample.detail, result.diagnostics)
        assert bool(result.diagnostics) == (not sample.expect), (sample.mutation, sample.detail)


def test_an_unknown_record_type_is_invalid_not_an_error() -> None:
    result = validate_record({"$type": "pub.layers.nonexistent.record", "createdAt": "2026-01-01T00:00:00Z"})
    assert not result.valid
    assert [d.code for d in result.diagnostics] == ["unknown_record_type"]


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("k" * 128, True),
        ("日" * 42 + "aa", True),  # 128 bytes in 44 code points
        ("日" * 43, False),  # 129 bytes in 43 code points: the limit is in bytes
        ("e" + "\u0301" * 63 + "a", True),  # one grapheme, exactly 128 bytes
        ("e" + "\u0301" * 64, False),  # one grapheme, 129 bytes
    ],
)
def test_string_limits_count_utf8_bytes(text: str, valid: bool) -> None:
    # annotationLayer.kind has maxLength 128 in the lexicon.
    record: dict[str, JsonValue] = {
        "$type": "pub.layers.annotation.annotationLayer",
        "expression": "at://did:plc:7iza6de2dwap2sbkpav7c6c6/pub.layers.expression.expression/3lbq2kfsbtc2x",
        "kind": text,
        "annotations": [],
        "createdAt": "2026-01-05T08:01:00Z",
    }
    result = validate_record(record)
    assert result.valid is valid
    if not valid:
        assert [(d.path, d.code) for d in result.diagnostics] == [("$.kind", "max_length")]
