"""References are found where the schema puts at-uri fields, blobs by their data-model shape."""

from __future__ import annotations

import pytest
from pydantic import JsonValue

from lairs_etl.atproto.cid import cid_for_raw
from lairs_etl.publish import blob_refs, record_references, reference_paths
from lairs_etl.records import format_paths, record_model, record_types

URI = "at://did:plc:abcdefghijklmnopqrstuvwx/pub.layers.expression.expression/3aaaaaaaaaaa2"


@pytest.mark.parametrize("nsid", record_types())
def test_every_schema_path_is_walked(nsid: str) -> None:
    # one reference placed at each at-uri path the model declares must be found there
    for pattern in format_paths(record_model(nsid), "at-uri"):
        value: JsonValue = URI
        for step in reversed(
            reference_paths(nsid)[format_paths(record_model(nsid), "at-uri").index(pattern)]
        ):
            value = [value] if step is None else {step: value}
        assert record_references(nsid, value) == {URI}, pattern


def test_strings_outside_at_uri_fields_are_not_references() -> None:
    value: JsonValue = {
        "text": URI,
        "id": URI,
        "expression": "not a uri",
        "eprintRefs": ["at://bad uri", URI],
    }
    assert record_references("pub.layers.annotation.annotationLayer", value) == {URI}


def test_unknown_collections_have_no_references() -> None:
    assert record_references("com.example.thing", {"expression": URI}) == set()


def test_blobs_are_found_anywhere_with_their_mime_type() -> None:
    cid = cid_for_raw(b"audio bytes")
    value: JsonValue = {
        "audio": {
            "clips": [{"$type": "blob", "ref": {"$link": cid.encode()}, "mimeType": "audio/wav", "size": 11}]
        }
    }
    assert blob_refs(value) == {cid: "audio/wav"}
    assert blob_refs({"ref": {"$link": cid.encode()}}) == {}
