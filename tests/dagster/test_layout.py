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
from lairs_etl.dagster.constants import ACTORS_TAG, PARTITIONS_JOB, PDS_HOST_TAG
from lairs_etl.dagster.instance import instance_yaml
from lairs_etl.dagster.partitions import PartitionLayout, shard_of
from lairs_etl.dagster.sensors import ACTORS_PER_RUN, shard_run_requests
from lairs_etl.errors import ConfigError
from lairs_etl.records import record_types
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
    from lairs_etl.dagster.inprocess import schedule_run_requests

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
    assert len(requests) < len(dids) / 10  # far fewer runs than one per actor
    again = shard_run_requests(list(reversed(changed)), layout, keys, job_name=PARTITIONS_JOB)
    assert sorted(r.run_key or "" for r in again) == sorted(r.run_key or "" for r in requests)
    moved = [Changed(changed[0].did, "later", changed[0].host), *changed[1:]]
    keys_moved = {r.run_key for r in shard_run_requests(moved, layout, keys)}
    assert keys_moved != {r.run_key for r in requests}  # a new rev is a new run, not deduplicated
