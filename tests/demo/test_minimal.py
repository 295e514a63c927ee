"""Records read off the models: valid at every fill, richer with more, choices that rotate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.demo import FORMAT_SAMPLES, minimal_record
from lairs_etl.errors import ConfigError
from lairs_etl.records import record_model, record_types, validate_record

LAYER = "pub.layers.annotation.annotationLayer"
SEG = "pub.layers.segmentation.segmentation"
JSET = "pub.layers.judgment.judgmentSet"
EXPR = "pub.layers.expression.expression"
TARGET = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/pub.layers.corpus.corpus/3jzfcijpj2z2b"


def _refer(field: str) -> str:
    return TARGET


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("fill", [0, 1, 3])
@pytest.mark.parametrize("nsid", record_types())
def test_every_type_is_valid_at_every_fill(nsid: str, fill: int) -> None:
    record = minimal_record(nsid, refer=_refer, created_at="2025-01-01T00:00:00.000Z", fill=fill)
    result = validate_record(record, nsid=nsid)
    assert result.valid, result.diagnostics
    assert record["$type"] == nsid


@settings(max_examples=60, deadline=None)
@given(
    nsid=st.sampled_from(record_types()),
    fill=st.integers(min_value=0, max_value=6),
    variant=st.integers(min_value=0, max_value=10_000),
    linked=st.booleans(),
)
def test_any_fill_and_variant_is_valid(nsid: str, fill: int, variant: int, linked: bool) -> None:
    record = minimal_record(nsid, refer=_refer if linked else None, fill=fill, variant=variant)
    result = validate_record(record, nsid=nsid)
    assert result.valid, result.diagnostics


@pytest.mark.parametrize("nsid", record_types())
def test_fill_zero_sets_only_required_properties_and_fill_adds_optional_ones(nsid: str) -> None:
    fields = record_model(nsid).model_fields.items()
    required = {info.alias or name for name, info in fields if info.is_required()}
    assert set(minimal_record(nsid)) == required
    filled = set(minimal_record(nsid, refer=_refer, fill=1))
    assert required < filled


@pytest.mark.parametrize("fill", [1, 2, 3, 5])
def test_lists_of_the_exploded_views_get_fill_items(fill: int) -> None:
    layer = minimal_record(LAYER, refer=_refer, fill=fill)
    segmentation = minimal_record(SEG, refer=_refer, fill=fill)
    judgments = minimal_record(JSET, refer=_refer, fill=fill)
    assert isinstance(layer["annotations"], list)
    assert len(layer["annotations"]) == fill
    assert isinstance(judgments["judgments"], list)
    assert len(judgments["judgments"]) == fill
    tokenizations = segmentation["tokenizations"]
    assert isinstance(tokenizations, list)
    assert len(tokenizations) == fill
    for tokenization in tokenizations:
        assert isinstance(tokenization, dict)
        assert isinstance(tokenization["tokens"], list)
        assert len(tokenization["tokens"]) == fill
        assert [t["tokenIndex"] for t in tokenization["tokens"] if isinstance(t, dict)] == list(range(fill))


def test_alternatives_get_one_choice_each_and_variants_rotate_it() -> None:
    kinds = set()
    for variant in range(12):
        layer = minimal_record(LAYER, refer=_refer, fill=3, variant=variant)
        assert isinstance(layer["annotations"], list)
        for annotation in layer["annotations"]:
            assert isinstance(annotation, dict)
            anchor = annotation["anchor"]
            assert isinstance(anchor, dict)
            assert len(anchor) == 1, anchor
            kinds |= set(anchor)
    assert len(kinds) > 3
    assert minimal_record(LAYER, fill=3, variant=0) != minimal_record(LAYER, fill=3, variant=1)


def test_references_go_through_refer_and_unresolved_optional_ones_are_left_out() -> None:
    asked: list[str] = []

    def refer(field: str) -> str:
        asked.append(field)
        return TARGET

    linked = minimal_record(LAYER, refer=refer, fill=3)
    assert "expression" in asked
    assert len(set(asked)) > 1  # optional references too, not only the required one
    refs = [s for s in _strings(linked) if s.startswith("at://")]
    assert refs
    assert set(refs) == {TARGET}
    unlinked = minimal_record(LAYER, fill=3)
    assert unlinked["expression"] == FORMAT_SAMPLES["at-uri"]
    assert [s for s in _strings(unlinked) if s.startswith("at://")] == [FORMAT_SAMPLES["at-uri"]]
    AtUri(TARGET)  # the test's own sample is a valid AT-URI


def test_optional_blobs_are_left_out_since_a_pds_would_refuse_them() -> None:
    for nsid in record_types():
        record = minimal_record(nsid, refer=_refer, fill=3)
        assert not any(s == "blob" for s in _strings(record)), nsid


def test_filled_records_stay_small() -> None:
    records = {nsid: minimal_record(nsid, refer=_refer, fill=3) for nsid in record_types()}
    sizes = {nsid: len(cbor.encode_json_form(record)) for nsid, record in records.items()}
    assert max(sizes.values()) < 8_000, sizes


def test_negative_fill_is_refused() -> None:
    with pytest.raises(ConfigError):
        minimal_record(LAYER, fill=-1)
