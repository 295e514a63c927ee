"""The generated models of the 26 Layers record types: valid minimal records, exact round trip."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from lairs_etl.records import LexRecord, record_model, record_types, validate_record
from lairs_etl.records.lextypes import LexString
from tests.fixtures.lexicons import FORMAT_SAMPLES

RECORD_TYPES = record_types()


@pytest.mark.parametrize("nsid", RECORD_TYPES)
def test_minimal_record_of_each_type_is_valid(nsid: str, minimal_records: dict[str, dict[str, Any]]) -> None:
    record = minimal_records[nsid]
    result = validate_record(record)
    assert result.valid, result.diagnostics
    assert result.model is not None
    assert type(result.model) is record_model(nsid)
    assert result.model.model_dump(by_alias=True, exclude_unset=True) == record


@pytest.mark.parametrize("nsid", RECORD_TYPES)
def test_each_required_property_is_required(nsid: str, minimal_records: dict[str, dict[str, Any]]) -> None:
    record = minimal_records[nsid]
    for key in [k for k in record if k != "$type"]:
        broken = {k: v for k, v in record.items() if k != key}
        result = validate_record(broken)
        assert [(d.path, d.code) for d in result.diagnostics] == [(f"$.{key}", "required")]


def test_all_26_record_types_are_generated(lexicon_docs: Mapping[str, Mapping[str, Any]]) -> None:
    expected = sorted(
        nsid for nsid, doc in lexicon_docs.items() if doc["defs"].get("main", {}).get("type") == "record"
    )
    assert list(RECORD_TYPES) == expected
    assert len(RECORD_TYPES) == 26


def test_fuller_record_round_trips_exactly(minimal_records: dict[str, dict[str, Any]]) -> None:
    uri = FORMAT_SAMPLES["at-uri"]
    record = copy.deepcopy(minimal_records["pub.layers.annotation.annotationLayer"])
    record.update(
        subkind="pos",
        rank=1,
        eprintRefs=[uri],
        unknownFutureField={"kept": ["as", "is"]},
        annotations=[
            {
                "uuid": {"value": "u1", "$type": "pub.layers.defs#uuid"},
                "label": "NOUN",
                "anchor": {"textSpan": {"byteStart": 0, "byteEnd": 3}},
                "confidence": 900,
                "knowledgeRefs": [],
            },
        ],
    )
    result = validate_record(record)
    assert result.valid, result.diagnostics
    assert result.model is not None
    assert result.model.to_json() == record
    assert result.model.model_dump(by_alias=True, exclude_unset=True) == record


def test_models_are_strict(minimal_records: dict[str, dict[str, Any]]) -> None:
    model = record_model("pub.layers.annotation.annotationLayer")
    record = {**minimal_records["pub.layers.annotation.annotationLayer"], "rank": "1"}
    with pytest.raises(ValidationError):
        model.model_validate(record)


def test_at_uri_fields_can_be_found_from_the_model() -> None:
    """What the publish layer needs: which fields hold references to other records."""
    model = record_model("pub.layers.annotation.annotationLayer")
    at_uri_fields = {
        name
        for name, info in model.model_fields.items()
        if any(
            isinstance(m, LexString) and m.format == "at-uri"
            for m in _metadata(info.annotation, info.metadata)
        )
    }
    assert {"expression", "kindUri", "parentLayerRef"} <= at_uri_fields
    assert "kind" not in at_uri_fields


def _metadata(annotation: Any, metadata: list[Any]) -> list[Any]:
    found = list(metadata)
    for arg in getattr(annotation, "__args__", ()):
        found.extend(getattr(arg, "__metadata__", ()))
    return found


@pytest.mark.parametrize("nsid", RECORD_TYPES)
def test_models_carry_their_nsid(nsid: str) -> None:
    model = record_model(nsid)
    assert issubclass(model, LexRecord)
    assert model.NSID == nsid == model.LEX_ID
    assert model.KEY in {"tid", "any", "nsid"} or model.KEY.startswith("literal:")


def test_format_paths_walk_refs_arrays_and_unions(synthetic_model: type[LexRecord]) -> None:
    from lairs_etl.records import format_paths, lex_fields

    assert format_paths(synthetic_model, "at-uri") == ("$.atUri",)
    assert format_paths(synthetic_model, "nsid") == ("$.nsid",)
    layer = record_model("pub.layers.annotation.annotationLayer")
    paths = format_paths(layer, "at-uri")
    assert {"$.expression", "$.eprintRefs[*]", "$.annotations[*].ontologyTypeRef"} <= set(paths)
    assert "$.kind" not in paths
    leaves = {leaf.path: leaf for leaf in lex_fields(synthetic_model)}
    assert leaves["$.points[*].x"].annotation is int
    assert leaves["$.openChoice.text"].annotation is str  # a union variant's field
    assert leaves["$.openChoice.text"].markers == ()
    assert leaves["$.bytesLimited"].markers == (LexString(min_length=2, max_length=6),)
    assert "$.from" in leaves
