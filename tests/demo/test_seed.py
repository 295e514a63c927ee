"""The seeder's records: every type valid and filled, references resolved, breakage on purpose."""

from __future__ import annotations

import secrets

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.demo import actor_records, minimal_record, reference_target
from lairs_etl.records import record_types, validate_record
from lairs_etl.views import MemorySource, SourceRecord, materialize

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
PEER = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
ACTORS = [DID, PEER, "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]
LAYER = "pub.layers.annotation.annotationLayer"
SEG = "pub.layers.segmentation.segmentation"
JSET = "pub.layers.judgment.judgmentSet"
EXPR = "pub.layers.expression.expression"


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
        target
        for _, value in records
        for name in ("expression", "corpusRef", "experimentRef")
        if isinstance(target := value.get(name), str)
    ]
    assert targets
    dids = {AtUri(t).did for t in targets}
    assert dids == {DID, PEER}
    assert all(t in planned or t in planned_peer for t in targets)


def test_plans_are_deterministic() -> None:
    assert actor_records(DID, records_per_type=1) == actor_records(DID, records_per_type=1)


def _source(dids: list[str], *, records_per_type: int, invalid: int, fill: int = 3) -> list[SourceRecord]:
    items = []
    for n, did in enumerate(dids):
        planned, _ = actor_records(
            did,
            records_per_type=records_per_type,
            invalid=invalid,
            peer=dids[(n + 1) % len(dids)],
            clock_id=n,
            peer_clock_id=(n + 1) % len(dids),
            fill=fill,
        )
        for uri, value in planned:
            block = cbor.encode_json_form(value)
            cid = cid_for_dag_cbor(block).encode()
            items.append(SourceRecord(did, str(uri.collection), str(uri.rkey), cid, value, len(block)))
    return items


def _list(value: object, field: str) -> list[object]:
    inner = value.get(field) if isinstance(value, dict) else None
    return list(inner) if isinstance(inner, list) else []


def _exploded(items: list[SourceRecord], collection: str, field: str) -> int:
    """Items of ``field`` over the valid records of ``collection``: what a view should list."""
    return sum(
        len(_list(item.value, field))
        for item in items
        if item.collection == collection and item.value is not None and validate_record(item.value).valid
    )


def test_a_demo_sized_corpus_fills_the_exploded_views() -> None:
    items = _source(ACTORS, records_per_type=2, invalid=2)
    summary = materialize(MemorySource("bafydemo", items), f"memory://seed-{secrets.token_hex(6)}/lake")
    rows = {entry.key.name: entry.rows for entry in summary.manifest.tables}
    annotations = rows.get(f"annotations/{LAYER}", 0)
    judgments = rows.get(f"judgments/{JSET}", 0)
    tokens = rows.get(f"tokens/{SEG}", 0)
    assert annotations > 0
    assert judgments > 0
    assert tokens > 0
    assert annotations == _exploded(items, LAYER, "annotations")
    assert judgments == _exploded(items, JSET, "judgments")
    segmentations = [item.value for item in items if item.collection == SEG]
    tokenizations = [t for value in segmentations for t in _list(value, "tokenizations")]
    assert tokens == sum(len(_list(t, "tokens")) for t in tokenizations)
    assert summary.invalid_records == 2 * len(ACTORS)


def test_without_fill_the_views_stay_empty() -> None:
    items = _source(ACTORS, records_per_type=1, invalid=0, fill=0)
    summary = materialize(MemorySource("bafydemo", items), f"memory://seed-{secrets.token_hex(6)}/lake")
    rows = {entry.key.name: entry.rows for entry in summary.manifest.tables}
    assert rows.get(f"annotations/{LAYER}", 0) == 0
    assert rows.get(f"tokens/{SEG}", 0) == 0


def test_breakage_moves_from_actor_to_actor_so_every_type_keeps_valid_records() -> None:
    valid_somewhere: set[str] = set()
    broken_anywhere: set[str] = set()
    for n, did in enumerate(ACTORS):
        planned, broken = actor_records(did, records_per_type=1, invalid=2, clock_id=n)
        assert len(broken) == 2
        broken_anywhere |= {str(uri.collection) for uri in broken}
        valid_somewhere |= {str(uri.collection) for uri, _ in planned if uri not in broken}
    assert valid_somewhere == set(record_types())
    assert len(broken_anywhere) == 2 * len(ACTORS)


def test_self_references_point_at_earlier_records_so_chains_end() -> None:
    parents: dict[str, str | None] = {}
    for n, did in enumerate(ACTORS):
        planned, _ = actor_records(
            did,
            records_per_type=3,
            peer=ACTORS[(n + 1) % len(ACTORS)],
            clock_id=n,
            peer_clock_id=(n + 1) % len(ACTORS),
            collections=[EXPR],
        )
        for uri, value in planned:
            parent = value.get("parentRef")
            parents[str(uri)] = parent if isinstance(parent, str) else None
    assert any(p is not None for p in parents.values())
    assert any(p is None for p in parents.values())
    for start, parent in parents.items():
        seen, at = {start}, parent
        while at is not None:
            assert at in parents  # a planned record
            assert at not in seen  # no cycle
            seen.add(at)
            at = parents[at]


def test_seeded_records_stay_a_few_kilobytes() -> None:
    planned, _ = actor_records(DID, records_per_type=2, peer=PEER)
    sizes = [len(cbor.encode_json_form(value)) for _, value in planned]
    assert max(sizes) < 8_000
    assert all(validate_record(value).valid for _, value in planned)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_every_reference_of_a_filled_corpus_resolves_to_a_planned_record() -> None:
    items = _source(ACTORS, records_per_type=2, invalid=0)
    planned = {f"at://{i.did}/{i.collection}/{i.rkey}" for i in items}
    refs = [s for item in items for s in _strings(item.value) if s.startswith("at://")]
    assert len(refs) > len(items)  # optional references are filled too
    assert set(refs) <= planned
    assert {AtUri(r).did for r in refs} == set(ACTORS)
