"""The seeder's records: every type valid by default, references resolved, breakage on purpose."""

from __future__ import annotations

import pytest

from lairs_etl.atproto.syntax import AtUri
from lairs_etl.demo import actor_records, minimal_record, reference_target
from lairs_etl.records import record_types, validate_record

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
PEER = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize("nsid", record_types())
def test_minimal_record_of_every_type_is_valid(nsid: str) -> None:
    record = minimal_record(nsid)
    assert record["$type"] == nsid
    assert validate_record(record).valid, validate_record(record).diagnostics


@pytest.mark.parametrize(
    ("field", "owner", "expected"),
    [
        ("corpusRef", "pub.layers.corpus.membership", "pub.layers.corpus.corpus"),
        ("experimentRef", "pub.layers.judgment.judgmentSet", "pub.layers.judgment.experimentDef"),
        ("entryRef", "pub.layers.resource.collectionMembership", "pub.layers.resource.entry"),
        ("templateRef", "pub.layers.resource.filling", "pub.layers.resource.template"),
        ("expression", "pub.layers.segmentation.segmentation", "pub.layers.expression.expression"),
        ("nothingLikeThis", "pub.layers.corpus.corpus", None),
    ],
)
def test_reference_target_follows_the_field_name(field: str, owner: str, expected: str | None) -> None:
    assert reference_target(field, owner, record_types()) == expected


def test_actor_records_cover_every_type_and_break_only_the_requested_number() -> None:
    records, broken = actor_records(DID, records_per_type=2, invalid=3, peer=PEER)
    assert len(records) == 2 * len(record_types())
    assert {uri.collection for uri, _ in records} == set(record_types())
    invalid = [uri for uri, value in records if not validate_record(value).valid]
    assert invalid == broken
    assert len(broken) == 3


def test_references_point_at_planned_records_of_this_actor_and_the_peer() -> None:
    records, _ = actor_records(DID, records_per_type=2, peer=PEER)
    planned = {str(uri) for uri, _ in records}
    peer_records, _ = actor_records(PEER, records_per_type=2, clock_id=1)
    planned_peer = {str(uri) for uri, _ in peer_records}
    targets = [
        value[name]
        for _, value in records
        for name in ("expression", "corpusRef", "experimentRef")
        if isinstance(value.get(name), str)
    ]
    assert targets
    dids = {AtUri(t).did for t in targets}
    assert dids == {DID, PEER}
    assert all(t in planned or t in planned_peer for t in targets)


def test_plans_are_deterministic() -> None:
    assert actor_records(DID, records_per_type=1) == actor_records(DID, records_per_type=1)
