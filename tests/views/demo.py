"""A small, realistic Layers corpus for the views tests: two actors, every exploded kind.

Expressions form a chain (document → paragraph → sentence) with one parent held by the
other actor and one missing; the annotation layer uses every anchor kind the tests
check; one record is invalid and one carries a property the lexicon does not declare.
"""

from __future__ import annotations

from typing import Any

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.views import SourceRecord

ALICE = "did:plc:alice5ewvi7nxzyoun6zhx"
BOB = "did:web:bob.example.com"
EXPR = "pub.layers.expression.expression"
SEG = "pub.layers.segmentation.segmentation"
LAYER = "pub.layers.annotation.annotationLayer"
JSET = "pub.layers.judgment.judgmentSet"
WHEN = "2025-03-04T05:06:07.089Z"


def uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def _expression(rkey: str, kind: str, text: str, parent: str | None) -> dict[str, Any]:
    value: dict[str, Any] = {"$type": EXPR, "createdAt": WHEN, "id": rkey, "kind": kind, "text": text}
    if parent is not None:
        value["parentRef"] = parent
    return value


def _tokens(words: list[str]) -> list[dict[str, Any]]:
    out, start = [], 0
    for index, word in enumerate(words):
        out.append(
            {
                "tokenIndex": index,
                "text": word,
                "textSpan": {"byteStart": start, "byteEnd": start + len(word)},
            }
        )
        start += len(word) + 1
    return out


def records() -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(did, collection, rkey, value)`` of the whole corpus."""
    doc = uri(ALICE, EXPR, "3kdoc0000000a")
    para = uri(ALICE, EXPR, "3kpar0000000a")
    sent = uri(ALICE, EXPR, "3ksen0000000a")
    layer: dict[str, Any] = {
        "$type": LAYER,
        "createdAt": WHEN,
        "expression": sent,
        "kind": "span",
        "subkind": "ner",
        "formalism": "conll-u",
        "tokenizationId": {"value": "tok-1"},
        "annotations": [
            {
                "uuid": {"value": "a1"},
                "label": "PER",
                "confidence": 900,
                "anchor": {"textSpan": {"byteStart": 0, "byteEnd": 5}},
            },
            {
                "uuid": {"value": "a2"},
                "label": "LOC",
                "value": "Paris",
                "anchor": {"tokenRef": {"tokenizationId": {"value": "tok-1"}, "tokenIndex": 2}},
            },
            {
                "uuid": {"value": "a3"},
                "label": "SPEECH",
                "anchor": {"temporalSpan": {"start": 1000, "ending": 2500}},
            },
            {
                "uuid": {"value": "a4"},
                "label": "FIG",
                "anchor": {
                    "pageAnchor": {"page": 3, "boundingBox": {"x": 10, "y": 20, "width": 30, "height": 40}}
                },
            },
            {"uuid": {"value": "a5"}, "label": "DOC"},
            {
                "uuid": {"value": "a6"},
                "label": "SEQ",
                "anchor": {
                    "tokenRefSequence": {"tokenizationId": {"value": "tok-1"}, "tokenIndexes": [0, 1]}
                },
            },
        ],
    }
    segmentation = {
        "$type": SEG,
        "createdAt": WHEN,
        "expression": sent,
        "tokenizations": [
            {
                "uuid": {"value": "tok-1"},
                "kind": "whitespace",
                "tokens": _tokens(["Alice", "visits", "Paris"]),
            },
            {"uuid": {"value": "tok-2"}, "kind": "character", "tokens": _tokens(["A", "l"])},
        ],
    }
    judgments = {
        "$type": JSET,
        "createdAt": WHEN,
        "experimentRef": uri(BOB, "pub.layers.judgment.experimentDef", "3kexp"),
        "judgments": [
            {"item": {"recordRef": sent}, "scalarValue": 4, "responseTimeMs": 812},
            {"item": {"recordRef": para}, "categoricalValue": "yes", "confidence": 700},
            {"item": {"localId": {"value": "x9"}}, "freeText": "unclear"},
        ],
    }
    return [
        (
            ALICE,
            EXPR,
            "3kdoc0000000a",
            _expression("3kdoc0000000a", "document", "Alice visits Paris. Then.", None),
        ),
        (ALICE, EXPR, "3kpar0000000a", _expression("3kpar0000000a", "paragraph", "Alice visits Paris.", doc)),
        (
            ALICE,
            EXPR,
            "3ksen0000000a",
            {
                **_expression("3ksen0000000a", "sentence", "Alice visits Paris.", para),
                "futureField": {"nested": [1, 2]},
            },
        ),
        (BOB, EXPR, "3kbob0000000a", _expression("3kbob0000000a", "sentence", "Quoted.", para)),
        (BOB, EXPR, "3korphan00000", _expression("3korphan00000", "word", "lost", uri(BOB, EXPR, "3kgone"))),
        (ALICE, SEG, "3kseg0000000a", segmentation),
        (ALICE, LAYER, "3klay0000000a", layer),
        (BOB, LAYER, "3klay0000000b", {**layer, "subkind": "pos", "annotations": layer["annotations"][:2]}),
        (BOB, JSET, "3kjud0000000a", judgments),
        (BOB, LAYER, "3kbad0000000a", {"$type": LAYER, "kind": "span", "annotations": []}),  # no createdAt
    ]


def source_records() -> list[SourceRecord]:
    """The corpus as the views read it, with real CIDs and block sizes."""
    out = []
    for did, collection, rkey, value in records():
        block = cbor.encode_json_form(value)
        out.append(SourceRecord(did, collection, rkey, cid_for_dag_cbor(block).encode(), value, len(block)))
    return out
