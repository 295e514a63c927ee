"""The partition layouts without a PDS: actor x collection, and actor shard x collection."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lairs_etl.dagster import LairsSettings, build_definitions
from lairs_etl.dagster.asset_decorator import _metadata
from lairs_etl.dagster.constants import ACTORS_TAG, PARTITIONS_JOB, PDS_HOST_TAG
from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests
from lairs_etl.dagster.instance import instance_yaml
from lairs_etl.dagster.partitions import PartitionLayout, PartitionOutcome, shard_of
from lairs_etl.dagster.sensors import ACTORS_PER_RUN, shard_run_requests
from lairs_etl.errors import ConfigError
from lairs_etl.records import record_types
from lairs_etl.sync import ActorSync, CollectionSync, Stage, Status
from lairs_etl.sync.changes import Changed

TYPES = record_types()
GUIDANCE = 100_000  # Dagster's suggested ceiling of partitions per asset
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _dids(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return ["did:plc:" + "".join(rng.choice(_B32) for _ in range(24)) for _ in range(count)]


def _settings(tmp_path: Path, **refresh: object) -> LairsSettings:
    return LairsSettings.model_validate(
        {
            "repository": {"url": str(tmp_path / "repo")},
            "lake": {"url": str(tmp_path / "lake")},
            "refresh": refresh,
        }
    )


def test_shards_hold_100k_actors_within_the_guidance_and_evenly() -> None:
    layout = PartitionLayout(TYPES, 256)
    partitions = layout.definition().get_partition_keys()
    assert len(partitions) == 256 * len(TYPES) < GUIDANCE
    dids = _dids(100_000)
    sizes = Counter(layout.primary(d) for d in dids)
    assert set(sizes) == set(layout.shard_keys())  # every actor lands in a declared shard
    mean = len(dids) / 256
    assert max(sizes.values()) < 1.25 * mean  # no hot shard: a run over one is ~400 actors
    assert min(sizes.values()) > 0.75 * mean
    # The actor layout would need 26 partitions per actor: 2.6 million here.
    assert len(dids) * len(TYPES) > 25 * GUIDANCE


def test_shards_are_pinned_so_an_upgrade_never_moves_an_actor() -> None:
    # SHA-256 of the DID, first 8 bytes big-endian, modulo the count: a salted hash() or
    # another slice would move every actor to another shard and orphan its partitions.
    assert shard_of("did:plc:ewvi7nxzyoun6zhxrhs64oiz", 256) == "005"
    assert shard_of("did:plc:ewvi7nxzyoun6zhxrhs64oiz", 1000) == "925"
    assert shard_of("did:web:example.com", 256) == "093"
    assert shard_of("did:web:example.com", 4) == "1"


@given(st.text(min_size=1, max_size=60), st.integers(min_value=1, max_value=10_000))
def test_a_did_always_maps_to_the_same_declared_shard(did: str, shards: int) -> None:
    layout = PartitionLayout(("pub.layers.expression.expression",), shards)
    shard = shard_of(did, shards)
    assert shard == layout.primary(did) == shard_of(did, shards)
    assert 0 <= int(shard) < shards
    key = layout.key(shard, "pub.layers.expression.expression")
    assert layout.split(key) == layout.split(str(key)) == (shard, "pub.layers.expression.expression")
    assert str(key) in set(layout.definition().get_partition_keys())


@pytest.mark.parametrize("shards", [0, 10_001])
def test_a_shard_count_out_of_range_is_refused(shards: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        PartitionLayout(TYPES, shards)
    with pytest.raises(ConfigError):
        LairsSettings.from_yaml(_write(tmp_path, f"refresh: {{actor_shards: {shards}}}"))


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "lairs.yaml"
    path.write_text(f"repository: {{url: {tmp_path}/r}}\nlake: {{url: {tmp_path}/l}}\n{extra}\n")
    return path


def test_the_setting_switches_the_assets_partitions(tmp_path: Path) -> None:
    sharded = build_definitions(_settings(tmp_path, actor_shards=16)).resolve_asset_graph()
    default = build_definitions(_settings(tmp_path)).resolve_asset_graph()
    key = dg.AssetKey(["layers", "fetched"])
    shards_def = sharded.get(key).partitions_def
    assert isinstance(shards_def, dg.MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in shards_def.partitions_defs}
    assert dims["actor_shard"].get_partition_keys() == [f"{n:02d}" for n in range(16)]
    assert dims["collection"].get_partition_keys() == list(TYPES)
    actor_def = default.get(key).partitions_def
    assert isinstance(actor_def, dg.MultiPartitionsDefinition)
    assert {d.name for d in actor_def.partitions_defs} == {"actor", "collection"}
    # The registry of actors is the same dynamic set in both: publishing stays per actor.
    published = sharded.get(dg.AssetKey(["layers", "published"])).partitions_def
    assert isinstance(published, dg.DynamicPartitionsDefinition)


def test_the_schedule_covers_every_shard_in_one_run(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path, actor_shards=8))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("lairs_actors", _dids(50))
        (request,) = schedule_run_requests(defs, "lairs_refresh", instance)
    assert request.tags["dagster/asset_partition_range_start"] == f"0|{TYPES[0]}"
    assert request.tags["dagster/asset_partition_range_end"] == f"7|{TYPES[-1]}"
    assert ACTORS_TAG not in request.tags  # every registered actor of every shard


def test_changed_actors_run_per_shard_and_host_naming_only_themselves() -> None:
    layout = PartitionLayout(TYPES, 4)
    dids = _dids(2 * ACTORS_PER_RUN + 30)
    hosts = ["https://a.example", "https://b.example"]
    changed = [Changed(did, f"rev{n}", hosts[n % 2]) for n, did in enumerate(dids)]
    keys = [dg.AssetKey(["layers", "fetched"])]
    requests = shard_run_requests(changed, layout, keys, job_name=PARTITIONS_JOB)
    named = [did for r in requests for did in r.tags[ACTORS_TAG].split()]
    assert sorted(named) == sorted(dids)  # each changed actor in exactly one run
    for request in requests:
        members = request.tags[ACTORS_TAG].split()
        assert len(members) <= ACTORS_PER_RUN
        shard = {layout.primary(d) for d in members}
        assert len(shard) == 1  # a run covers one shard's collections, as a range
        (only,) = shard
        assert request.tags["dagster/asset_partition_range_start"] == f"{only}|{TYPES[0]}"
        assert request.tags["dagster/asset_partition_range_end"] == f"{only}|{TYPES[-1]}"
        host = {c.host for c in changed if c.did in members}
        assert {f"https://{request.tags[PDS_HOST_TAG]}"} == host  # host limits still apply
        assert request.job_name == PARTITIONS_JOB
    groups = {(layout.primary(c.did), c.host) for c in changed}
    assert len(requests) == len(groups)  # one run per shard and host while they fit in one
    again = shard_run_requests(list(reversed(changed)), layout, keys, job_name=PARTITIONS_JOB)
    assert sorted(r.run_key or "" for r in again) == sorted(r.run_key or "" for r in requests)
    moved = [Changed(changed[0].did, "later", changed[0].host), *changed[1:]]
    keys_moved = {r.run_key for r in shard_run_requests(moved, layout, keys)}
    assert keys_moved != {r.run_key for r in requests}  # a new rev is a new run, not deduplicated


def test_long_dids_are_spread_over_more_runs_to_keep_tags_short() -> None:
    layout = PartitionLayout(TYPES, 1)
    changed = [Changed(f"did:web:{'x' * 300}{n}.example", "rev", "https://a.example") for n in range(60)]
    requests = shard_run_requests(changed, layout, [dg.AssetKey(["layers", "fetched"])])
    assert len(requests) > 1  # 60 DIDs fit the count cap, not the tag size
    assert all(len(r.tags[ACTORS_TAG]) <= 8_000 for r in requests)
    assert sorted(d for r in requests for d in r.tags[ACTORS_TAG].split()) == sorted(c.did for c in changed)


def _outcome(
    did: str, key: str, *, valid: int, invalid: int = 0, failed: bool = False, refreshed: bool = True
) -> PartitionOutcome:
    collection = CollectionSync(
        TYPES[0], records=valid + invalid, valid=valid, invalid=invalid, lake_rows=valid
    )
    if failed:
        actor = ActorSync(did, Status.FAILED, did=did, error="boom", error_type="FetchError")
    else:
        status = Status.COMMITTED if refreshed else Status.UNCHANGED
        actor = ActorSync(
            did,
            status,
            did=did,
            mode="car" if refreshed else None,
            collections=(collection,),
            bytes_fetched=100 if refreshed else 0,
            seconds={Stage.FETCHED: 0.5} if refreshed else {},
        )
    return PartitionOutcome(key, actor, collection, refreshed=refreshed)


def test_a_shard_partition_sums_its_actors_and_says_which_failed() -> None:
    key = f"0|{TYPES[0]}"
    dids = _dids(4)
    outcomes = [
        _outcome(dids[0], key, valid=3, invalid=1),
        _outcome(dids[1], key, valid=5),
        _outcome(dids[2], key, valid=0, failed=True),
        _outcome(dids[3], key, valid=7, refreshed=False),  # named run: counted as committed
    ]
    validated = _metadata("validated", outcomes, totals=True, sharded=True)
    assert validated["lairs_etl/status"] == "failed"
    assert validated["lairs_etl/error"].startswith(f"1 of 4 actors failed; {dids[2]}: FetchError: boom")
    assert (validated["lairs_etl/valid"], validated["lairs_etl/invalid"]) == (15, 1)
    assert validated["dagster/row_count"] == 16
    assert (validated["lairs_etl/actors"], validated["lairs_etl/refreshed_actors"]) == (4, 3)
    fetched = _metadata("fetched", outcomes, totals=True, sharded=True)
    assert fetched["dagster/row_count"] == 9  # fetched by this run: the kept actor fetched nothing
    assert fetched["lairs_etl/actor_bytes_fetched"] == 200  # the two that downloaded
    assert fetched["lairs_etl/fetch_mode"] == "car: 2"
    listed = [row.data["did"] for row in fetched["lairs_etl/actor_status"].value.records]
    assert listed[0] == dids[2]  # failed first
    assert sorted(listed) == sorted(dids[:3])  # only the actors this run refreshed
    assert _metadata("parquet", outcomes, totals=False, sharded=True)["dagster/row_count"] == 15
    empty = _metadata("committed", [], totals=True, sharded=True)
    assert (empty["lairs_etl/status"], empty["lairs_etl/actors"], empty["dagster/row_count"]) == (
        "empty",
        0,
        0,
    )


def test_a_run_naming_an_unregistered_actor_fails_before_fetching(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path, actor_shards=4))
    layout = PartitionLayout(TYPES, 4)
    registered = _dids(3)
    stranger = "did:plc:" + "z" * 24
    shard = layout.primary(stranger)
    request = layout.range_request(
        (shard, TYPES[0]),
        (shard, TYPES[-1]),
        [dg.AssetKey(["layers", s]) for s in ("fetched", "validated", "committed", "parquet")],
        run_key=None,
        job_name=PARTITIONS_JOB,
        tags={ACTORS_TAG: stranger},
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("lairs_actors", registered)
        result = execute_run_request(defs, request, instance, log_level="CRITICAL")
        failures = [e for e in result.all_events if e.is_step_failure]
    assert not result.success
    (failure,) = failures
    error = failure.step_failure_data.error
    causes = []
    while error is not None:  # Dagster wraps the op's error in its own
        causes.append(error)
        error = error.cause
    (refused,) = [e for e in causes if e.cls_name == "ConfigError"]
    assert stranger in refused.message
