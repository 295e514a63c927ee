"""Builders: validated at construction, addressed (URI and CID) before publishing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.tid import tid_timestamp
from lairs_etl.errors import ConfigError, LexiconError, RecordValidationError
from lairs_etl.records import parse_record
from lairs_etl.records.anchors import (
    bounding_box,
    page_anchor,
    spatio_temporal_anchor,
    temporal_span,
    text_span,
    token_ref,
)
from lairs_etl.records.builders import RecordBatch, TidSequence, build_object, build_record

DID = "did:plc:abcdefghijklmnopqrstuvwx"
NOW = "2026-01-02T03:04:05.000Z"
START = datetime(2026, 1, 1, tzinfo=UTC)


def _expression(**extra: object):  # type: ignore[no-untyped-def]
    return build_record("pub.layers.expression.expression", id="e", kind="document", createdAt=NOW, **extra)


def test_a_built_record_is_valid_and_typed() -> None:
    record = _expression(text="hi")
    assert record.to_json()["$type"] == "pub.layers.expression.expression"
    assert parse_record(record.to_json()).to_json() == record.to_json()


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"id": "e", "createdAt": NOW}, "$.kind"),  # required field missing
        ({"id": "e", "kind": "document", "createdAt": "yesterday"}, "$.createdAt"),  # bad datetime
        (
            {"id": "e", "kind": "document", "createdAt": NOW, "mediaRef": "http://x"},
            "$.mediaRef",
        ),  # not at-uri
    ],
)
def test_invalid_fields_fail_at_construction(fields: dict[str, object], path: str) -> None:
    with pytest.raises(RecordValidationError) as failed:
        build_record("pub.layers.expression.expression", **fields)
    assert path in [d.path for d in failed.value.diagnostics]  # type: ignore[attr-defined]


def test_unknown_types_are_lexicon_errors() -> None:
    with pytest.raises(LexiconError):
        build_record("pub.layers.nope.nope", createdAt=NOW)
    with pytest.raises(LexiconError):
        build_object("pub.layers.defs#nope")


def test_text_span_counts_characters_and_derives_utf8_bytes() -> None:
    text = "über café"
    span = text_span(text, 5, 9).to_json()["textSpan"]
    assert span == {"byteStart": 6, "byteEnd": 11, "charStart": 5, "charEnd": 9}
    assert text.encode()[6:11].decode() == "café"
    with pytest.raises(ConfigError):
        text_span(text, 3, 99)


def test_anchor_helpers_build_valid_anchors_inside_records() -> None:
    box = bounding_box(1, 2, 30, 40)
    anchors = [
        token_ref("tok", 3),
        temporal_span(100, 250),
        spatio_temporal_anchor(
            0, 1000, [(0, box), (500, bounding_box(5, 5, 30, 40))], interpolation="linear"
        ),
        page_anchor(2, box=box, text=("page text", 0, 4)),
    ]
    for anchor in anchors:
        assert _expression(anchor=anchor).to_json()["anchor"] == anchor.to_json()
    with pytest.raises(RecordValidationError):
        bounding_box(0, 0, 0, 10)  # width must be at least 1


def test_a_batch_knows_uris_and_cids_before_publishing() -> None:
    batch = RecordBatch(DID, tids=TidSequence(START))
    media = batch.add(build_record("pub.layers.media.media", kind="audio", createdAt=NOW))
    expression = batch.add(_expression(mediaRef=media))
    built = {r.uri: r for r in batch.records()}
    assert built[expression].value()["mediaRef"] == media
    assert built[expression].cid == cid_for_dag_cbor(cbor.encode_json_form(built[expression].value()))
    assert [e[:2] for e in batch.entries()] == [(r.collection, r.rkey) for r in batch.records()]
    assert tid_timestamp(str(media.rkey)) == START


def test_reserved_uris_allow_cycles_and_must_be_filled() -> None:
    batch = RecordBatch(DID, tids=TidSequence(START))
    eprint = batch.reserve("pub.layers.eprint.eprint")
    corpus = batch.add(build_record("pub.layers.corpus.corpus", name="c", createdAt=NOW, eprintRefs=[eprint]))
    with pytest.raises(ConfigError, match="never added"):
        batch.records()
    batch.add(
        build_record(
            "pub.layers.eprint.eprint",
            eprintIdentifier="x",
            linkType="extends",
            corpusRef=corpus,
            createdAt=NOW,
        ),
        rkey=eprint.rkey,
    )
    assert {r.uri for r in batch.records()} == {corpus, eprint}


def test_deterministic_tids_give_identical_batches() -> None:
    def build() -> list[tuple[str, str]]:
        batch = RecordBatch(DID, tids=TidSequence(START, clock_id=5))
        for i in range(3):
            batch.add(_expression(text=str(i)))
        return [(str(r.uri), r.cid.encode()) for r in batch.records()]

    assert build() == build()


def test_record_keys_are_checked() -> None:
    batch = RecordBatch(DID)
    uri = batch.add(_expression(), rkey="3aaaaaaaaaaa2")
    assert uri.rkey == "3aaaaaaaaaaa2"
    with pytest.raises(ConfigError):
        batch.add(_expression(), rkey="3aaaaaaaaaaa2")  # taken
    with pytest.raises(Exception, match="tid"):
        batch.add(_expression(), rkey="not-a-tid")  # these collections use TID keys
