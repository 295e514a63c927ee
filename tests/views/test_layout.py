"""Hive partition paths: reversible, safe DID encoding and one fixed file per partition."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings

from lairs_etl.errors import InvalidIdentifier
from lairs_etl.views import TableKey, decode_actor, encode_actor, partition_path, sql_name
from lairs_etl.views.layout import MAX_ACTOR_COMPONENT, is_shortened, part_name
from tests.records.strategies._formats import dids


@settings(max_examples=60)
@given(did=dids())
def test_actor_encoding_is_reversible_and_path_safe(did: str) -> None:
    encoded = encode_actor(did)
    if not is_shortened(encoded):
        assert decode_actor(encoded) == did
    assert len(encoded) <= MAX_ACTOR_COMPONENT
    assert ":" not in encoded
    assert "/" not in encoded


def test_a_maximal_did_web_is_shortened_deterministically() -> None:
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])  # 253 characters: legal
    did = f"did:web:{host}"
    encoded = encode_actor(did)
    assert is_shortened(encoded)
    assert len(encoded) <= MAX_ACTOR_COMPONENT
    assert encoded == encode_actor(did)  # deterministic
    assert encoded.startswith("did%3Aweb%3Aaaaa")  # still recognisable in a listing
    assert encode_actor(did[:-1] + "n") != encoded  # a DID differing at the end differs
    with pytest.raises(InvalidIdentifier):
        decode_actor(encoded)  # the DID lives in the files, not the name


def test_partition_path_is_hive_style() -> None:
    key = TableKey("records", "pub.layers.expression.expression")
    path = partition_path("s3://bucket/lake/", key, 2, "did:plc:abc", part_name(b"PAR1"))
    assert path == (
        "s3://bucket/lake/records/v2/collection=pub.layers.expression.expression/actor=did%3Aplc%3Aabc/"
        f"part-{hashlib.sha256(b'PAR1').hexdigest()[:32]}.parquet"
    )
    assert part_name(b"PAR1") == part_name(b"PAR1") != part_name(b"PAR2")  # named by content


def test_bad_identifiers_never_become_paths() -> None:
    with pytest.raises(InvalidIdentifier):
        encode_actor("../../etc")
    with pytest.raises(InvalidIdentifier):
        partition_path("/lake", TableKey("records", "not an nsid"), 1, "did:plc:abc", "part-0.parquet")


def test_sql_names() -> None:
    assert (
        sql_name(TableKey("records", "pub.layers.expression.expression"))
        == "pub_layers_expression_expression"
    )
    assert sql_name(TableKey("annotations", "pub.layers.annotation.annotationLayer")) == "annotations"
