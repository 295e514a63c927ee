"""The warehouse resolves anchors to the text they cover and joins annotations to corpus splits."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.records import validate_record
from lairs_etl.views import MemorySource, SourceRecord, build_warehouse, materialize, run_query

CURATOR = "did:plc:curator7nxzyoun6zhxaaaa"
WRITER = "did:plc:writer57nxzyoun6zhxaaaa"
EXPR = "pub.layers.expression.expression"
SEG = "pub.layers.segmentation.segmentation"
LAYER = "pub.layers.annotation.annotationLayer"
CORPUS = "pub.layers.corpus.corpus"
MEMBER = "pub.layers.corpus.membership"
WHEN = "2025-03-04T05:06:07.089Z"
#: Multi-byte on purpose: "é" is 2 bytes, each CJK character 3, the emoji 4.
TEXT = "Café 東京 😀 ok"
PLAIN = "Alice visits Paris"


def _uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def _span(start: int, end: int) -> dict[str, int]:
    return {"byteStart": start, "byteEnd": end}


def _bytes_of(text: str, piece: str) -> dict[str, int]:
    start = text.encode().index(piece.encode())
    return _span(start, start + len(piece.encode()))


EXPRESSIONS = {
    "3kmulti000000": TEXT,
    "3kplain000000": PLAIN,
    "3kdouble00000": PLAIN,
}
DOUBLE = _uri(WRITER, EXPR, "3kdouble00000")  # two segmentations use one tokenization id
MULTI = _uri(WRITER, EXPR, "3kmulti000000")
PLAIN_URI = _uri(WRITER, EXPR, "3kplain000000")
MISSING = _uri(WRITER, EXPR, "3knotthere000")
CORPUS_URI = _uri(CURATOR, CORPUS, "3kcorpus00000")

# (label, expression, anchor, expected text, expected error)
CASES: list[tuple[str, str, dict[str, Any], str | None, str | None]] = [
    ("cafe", MULTI, {"textSpan": _bytes_of(TEXT, "Café")}, "Café", None),
    ("tokyo", MULTI, {"textSpan": _bytes_of(TEXT, "東京")}, "東京", None),
    ("emoji", MULTI, {"textSpan": _bytes_of(TEXT, "😀")}, "😀", None),
    ("all", MULTI, {"textSpan": _span(0, len(TEXT.encode()))}, TEXT, None),
    ("empty", MULTI, {"textSpan": _span(3, 3)}, "", None),
    ("mid-e", MULTI, {"textSpan": _span(0, 4)}, None, "byteEnd inside a UTF-8 character"),
    ("mid-kanji", MULTI, {"textSpan": _span(7, 9)}, None, "byteStart inside a UTF-8 character"),
    (
        "beyond",
        MULTI,
        {"textSpan": _span(2, 99)},
        None,
        f"byte offsets beyond the text ({len(TEXT.encode())} bytes)",
    ),
    ("reversed", MULTI, {"textSpan": _span(5, 2)}, None, "byteStart after byteEnd"),
    ("elsewhere", MISSING, {"textSpan": _span(0, 1)}, None, "expression not in the lake"),
    ("token", PLAIN_URI, {"tokenRef": {"tokenizationId": {"value": "ws"}, "tokenIndex": 2}}, "Paris", None),
    (
        "tokens",
        PLAIN_URI,
        {"tokenRefSequence": {"tokenizationId": {"value": "ws"}, "tokenIndexes": [0, 1]}},
        "Alice visits",
        None,
    ),
    (
        "no-token",
        PLAIN_URI,
        {"tokenRef": {"tokenizationId": {"value": "ws"}, "tokenIndex": 7}},
        None,
        "token not in the lake",
    ),
    ("time", PLAIN_URI, {"temporalSpan": {"start": 1200, "ending": 3400}}, None, None),
    ("chars", MULTI, {"textSpan": {**_bytes_of(TEXT, "Café"), "charStart": 0, "charEnd": 4}}, "Café", None),
    (
        "chars-off",
        MULTI,
        {"textSpan": {**_bytes_of(TEXT, "Café"), "charStart": 0, "charEnd": 3}},
        None,
        "character and byte offsets disagree",
    ),
    (
        "chars-beyond",
        MULTI,
        {"textSpan": {**_bytes_of(TEXT, "Café"), "charStart": 0, "charEnd": 99}},
        None,
        "character offsets beyond the text",
    ),
    (
        "no-indexes",
        PLAIN_URI,
        {"tokenRefSequence": {"tokenizationId": {"value": "ws"}, "tokenIndexes": []}},
        None,
        "no token indexes",
    ),
    (
        "ambiguous",
        DOUBLE,
        {"tokenRef": {"tokenizationId": {"value": "ws"}, "tokenIndex": 0}},
        None,
        "ambiguous token: several segmentations of the expression use that tokenization id",
    ),
]


def _records() -> list[tuple[str, str, str, dict[str, Any]]]:
    out: list[tuple[str, str, str, dict[str, Any]]] = [
        (WRITER, EXPR, rkey, {"$type": EXPR, "createdAt": WHEN, "id": rkey, "kind": "sentence", "text": text})
        for rkey, text in EXPRESSIONS.items()
    ]
    words, start, tokens = PLAIN.split(" "), 0, []
    for index, word in enumerate(words):
        tokens.append({"tokenIndex": index, "text": word, "textSpan": _span(start, start + len(word))})
        start += len(word) + 1
    for did, rkey, expression in (
        (WRITER, "3kseg00000000", PLAIN_URI),
        (WRITER, "3kseg0000000b", DOUBLE),
        (CURATOR, "3kseg0000000c", DOUBLE),  # another account's, with the same tokenization id
    ):
        segmentation = {
            "$type": SEG,
            "createdAt": WHEN,
            "expression": expression,
            "tokenizations": [{"uuid": {"value": "ws"}, "kind": "whitespace", "tokens": tokens}],
        }
        out.append((did, SEG, rkey, segmentation))
    mixed = [
        {"tokenIndex": 0, "text": "Café", "textSpan": _bytes_of(TEXT, "Café")},
        {"tokenIndex": 1, "text": "東", "textSpan": _span(6, 8)},  # ends inside 東
        {"tokenIndex": 2, "text": "wrong", "textSpan": _bytes_of(TEXT, "東京")},
    ]
    segmentation = {
        "$type": SEG,
        "createdAt": WHEN,
        "expression": MULTI,
        "tokenizations": [{"uuid": {"value": "mt"}, "kind": "custom", "tokens": mixed}],
    }
    out.append((CURATOR, SEG, "3kseg0000000d", segmentation))
    out.append(
        (
            CURATOR,
            CORPUS,
            "3kcorpus00000",
            {"$type": CORPUS, "createdAt": WHEN, "name": "Tiny", "version": "1"},
        )
    )
    for rkey, expression, split in (("3kmem0000000a", MULTI, "train"), ("3kmem0000000b", PLAIN_URI, "test")):
        membership = {
            "$type": MEMBER,
            "createdAt": WHEN,
            "corpusRef": CORPUS_URI,
            "expressionRef": expression,
            "split": split,
        }
        out.append((CURATOR, MEMBER, rkey, membership))
    for expression in (MULTI, PLAIN_URI, MISSING, DOUBLE):
        annotations = [
            {"uuid": {"value": label}, "label": label, "anchor": anchor}
            for label, target, anchor, _, _ in CASES
            if target == expression
        ]
        rkey = {
            MULTI: "3klayera00000",
            PLAIN_URI: "3klayerb00000",
            MISSING: "3klayerc00000",
            DOUBLE: "3klayerd00000",
        }[expression]
        layer = {
            "$type": LAYER,
            "createdAt": WHEN,
            "expression": expression,
            "kind": "span",
            "annotations": annotations,
        }
        out.append((CURATOR, LAYER, rkey, layer))
    return out


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    records = _records()
    for _, collection, _, value in records:  # the test corpus itself must be valid Layers
        result = validate_record(value, nsid=collection)
        assert result.valid, (collection, result)
    source = []
    for did, collection, rkey, value in records:
        block = cbor.encode_json_form(value)
        source.append(
            SourceRecord(did, collection, rkey, cid_for_dag_cbor(block).encode(), value, len(block))
        )
    lake = f"memory://resolved-{secrets.token_hex(6)}/lake"
    materialize(MemorySource("bafycommit", source), lake)
    db = str(Path(tmp_path_factory.mktemp("resolved")) / "warehouse.duckdb")
    build_warehouse(lake, db)
    return db


def test_anchors_resolve_to_the_exact_covered_text_or_a_per_row_error(warehouse: str) -> None:
    rows = run_query(
        warehouse, "SELECT label, expression_uri, anchor_text, anchor_error FROM annotations ORDER BY label"
    ).to_pylist()
    expected = sorted(
        (
            {"label": label, "expression_uri": uri, "anchor_text": text, "anchor_error": error}
            for label, uri, _, text, error in CASES
        ),
        key=lambda row: str(row["label"]),
    )
    assert rows == expected


def test_temporal_anchors_give_milliseconds(warehouse: str) -> None:
    rows = run_query(
        warehouse, "SELECT anchor_start_ms, anchor_end_ms FROM annotations WHERE label = 'time'"
    ).to_pylist()
    assert rows == [{"anchor_start_ms": 1200, "anchor_end_ms": 3400}]


def test_labels_with_covered_text_per_split_in_one_join(warehouse: str) -> None:
    members = run_query(
        warehouse,
        "SELECT corpus_uri, corpus_name, corpus_version, expression_uri, split, actor, expression_actor "
        "FROM corpus_members ORDER BY split",
    ).to_pylist()
    assert members == [
        {
            "corpus_uri": CORPUS_URI,
            "corpus_name": "Tiny",
            "corpus_version": "1",
            "expression_uri": PLAIN_URI,
            "split": "test",
            "actor": CURATOR,
            "expression_actor": WRITER,
        },
        {
            "corpus_uri": CORPUS_URI,
            "corpus_name": "Tiny",
            "corpus_version": "1",
            "expression_uri": MULTI,
            "split": "train",
            "actor": CURATOR,
            "expression_actor": WRITER,
        },
    ]
    per_split = run_query(
        warehouse,
        "SELECT m.split, a.label, a.anchor_text FROM annotations a "
        "JOIN corpus_members m ON m.expression_uri = a.expression_uri "
        "WHERE a.anchor_text IS NOT NULL ORDER BY m.split, a.label",
    ).to_pylist()
    expected = sorted(
        (
            {"split": "train" if uri == MULTI else "test", "label": label, "anchor_text": text}
            for label, uri, _, text, _ in CASES
            if text is not None and uri in (MULTI, PLAIN_URI)
        ),
        key=lambda row: (str(row["split"]), str(row["label"])),
    )
    assert per_split == expected


def test_tokens_give_the_text_their_span_covers_or_why_not(warehouse: str) -> None:
    rows = run_query(
        warehouse,
        "SELECT text, expression_uri, span_text, span_error FROM tokens "
        "WHERE tokenization_uuid_value = 'mt' ORDER BY \"tokenIndex\"",
    ).to_pylist()
    assert rows == [
        {"text": "Café", "expression_uri": MULTI, "span_text": "Café", "span_error": None},
        {
            "text": "東",
            "expression_uri": MULTI,
            "span_text": None,
            "span_error": "byteEnd inside a UTF-8 character",
        },
        {
            "text": "wrong",
            "expression_uri": MULTI,
            "span_text": None,
            "span_error": "token text and span disagree",
        },
    ]
    plain = run_query(
        warehouse,
        "SELECT count(*) AS n, count(*) FILTER (WHERE span_text = text AND span_error IS NULL) AS ok "
        f"FROM tokens WHERE expression_uri = '{PLAIN_URI}'",
    ).to_pylist()
    assert plain == [{"n": 3, "ok": 3}]
