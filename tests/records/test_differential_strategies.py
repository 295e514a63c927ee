"""The strategies themselves, checked against the reference on lexicon features Layers lacks.

The Layers tree has no maxGraphemes, closed unions, const/enum, nullable, bytes or
cid-link fields, yet the strategies claim to handle them. A synthetic lexicon written
here (not Layers data) exercises each: generated records must be valid for the reference
and every breaking mutation invalid, so the strategies stay right if Layers grows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .reference import reference_verdicts
from .strategies import MUTATIONS, LexiconTree, corpus

pytestmark = [pytest.mark.node, pytest.mark.slow]

NSID = "com.example.lairs.kitchenSink"
DOC: dict[str, Any] = {
    "lexicon": 1,
    "id": NSID,
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "record": {
                "type": "object",
                "required": ["title", "count", "choice", "createdAt"],
                "nullable": ["maybe"],
                "properties": {
                    "title": {"type": "string", "maxLength": 40, "maxGraphemes": 5, "minGraphemes": 1},
                    "mood": {"type": "string", "enum": ["calm", "stormy"]},
                    "version": {"type": "string", "const": "v1"},
                    "lang": {"type": "string", "format": "language"},
                    "owner": {"type": "string", "format": "handle"},
                    "collection": {"type": "string", "format": "nsid"},
                    "rev": {"type": "string", "format": "tid"},
                    "key": {"type": "string", "format": "record-key"},
                    "count": {"type": "integer", "enum": [1, 2, 3]},
                    "seven": {"type": "integer", "const": 7},
                    "flag": {"type": "boolean", "const": True},
                    "data": {"type": "bytes", "maxLength": 8, "minLength": 1},
                    "link": {"type": "cid-link"},
                    "maybe": {"type": "string", "maxLength": 10},
                    "choice": {"type": "union", "refs": ["#left", "#right"], "closed": True},
                    "tags": {
                        "type": "array",
                        "minLength": 1,
                        "maxLength": 3,
                        "items": {"type": "ref", "ref": "#left"},
                    },
                    "createdAt": {"type": "string", "format": "datetime"},
                },
            },
        },
        "left": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}},
        "right": {"type": "object", "properties": {"label": {"type": "string", "maxGraphemes": 3}}},
    },
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, Any]]:
    root: Path = tmp_path_factory.mktemp("lexicons")
    (root / "kitchenSink.json").write_text(json.dumps(DOC), encoding="utf-8")
    tree = LexiconTree.load(root)
    samples = corpus(tree, per_type=40)
    return list(zip(samples, reference_verdicts([s.record for s in samples], root), strict=True))


def test_generated_records_are_valid_for_the_reference(verdicts: list[tuple[Any, Any]]) -> None:
    bad = [(s.record, v.error) for s, v in verdicts if s.mutation == "valid" and not v.valid]
    assert not bad, bad[:5]


def test_each_mutation_gets_the_expected_reference_verdict(verdicts: list[tuple[Any, Any]]) -> None:
    graphemes = [v.error for s, v in verdicts if s.mutation == "string_too_long_graphemes"]
    assert graphemes
    assert all("graphemes" in (error or "") for error in graphemes), graphemes[:3]  # not the byte limit
    wrong = [
        (s.mutation, s.detail, v.error) for s, v in verdicts if s.expect is not None and v.valid != s.expect
    ]
    assert not wrong, wrong[:10]


def test_the_features_missing_from_layers_are_exercised(verdicts: list[tuple[Any, Any]]) -> None:
    seen = {s.mutation for s, _ in verdicts}
    assert {
        "string_too_long_graphemes",
        "union_unknown_closed",
        "string_too_short",
        "array_too_short",
    } <= seen
    assert {m.name for m in MUTATIONS if m.expect is False} - seen <= {
        "blob_malformed",
        "string_combining_too_long",
    }
