"""The actor-shard layout end to end against the real PDS: schedule, metadata, change sensor.

The deployment's settings switch to ``refresh.actor_shards: 4``; tests run in file order
(discovery fills the registry, the schedule refreshes every shard, the change sensor then
re-fetches one actor).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from lairs_etl.dagster import definitions_from_file
from lairs_etl.dagster.constants import ACTORS_PARTITIONS, ACTORS_TAG, ASSET_METADATA, PARTITIONS_JOB
from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests, tick_sensor
from lairs_etl.dagster.partitions import PartitionLayout
from lairs_etl.demo import SeededCorpus, minimal_record
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.views import connect_warehouse
from tests.dagster.conftest import Deployment

# A full refresh here fetches every actor the session PDS holds (other modules' too), and
# on Postgres each partition costs ~0.6 s of event-log writes: on a slow day that nears
# the suite's 600 s per-test limit, so these tests get more.
pytestmark = [pytest.mark.pds, pytest.mark.slow, pytest.mark.timeout(1800)]

SHARDS = 4
TYPES = record_types()
LAYOUT = PartitionLayout(TYPES, SHARDS)


@pytest.fixture(scope="module")
def sharded(deployment: Deployment) -> Deployment:
    settings = json.loads(deployment.settings.read_text(encoding="utf-8"))  # the demo writes JSON
    settings["refresh"]["actor_shards"] = SHARDS
    deployment.settings.write_text(json.dumps(settings), encoding="utf-8")
    return deployment


def _instance(deployment: Deployment) -> DagsterInstance:
    return DagsterInstance.from_config(str(deployment.home))


def _latest(instance: DagsterInstance, stage: str, partition: str) -> dict[str, object]:
    (record,) = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(["layers", stage]), asset_partitions=[partition]), limit=1
    ).records
    assert record.asset_materialization is not None
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_the_schedule_refreshes_every_shard_in_one_run(sharded: Deployment, corpus: SeededCorpus) -> None:
    defs = definitions_from_file(sharded.settings)
    with _instance(sharded) as instance:
        tick_sensor(defs, "lairs_discovery", instance)
        registered = instance.get_dynamic_partitions(ACTORS_PARTITIONS)
        (request,) = schedule_run_requests(defs, "lairs_refresh", instance)
        result = execute_run_request(defs, request, instance)
        materialized = set(instance.get_materialized_partitions(AssetKey(["layers", "parquet"])))
    assert result.success
    assert set(corpus.dids) <= set(registered)
    # The asset's partitions do not grow with the actors: shards x collections.
    assert materialized == {str(LAYOUT.key(s, t)) for s in LAYOUT.shard_keys() for t in TYPES}
    repo = Repository.open(str(sharded.root / "repo"))
    states = repo.actors()
    assert set(registered) <= set(states)  # every registered actor of every shard committed
    for actor in corpus.actors:
        state = states[actor.did]
        assert (state.valid_count, state.invalid_count) == (len(TYPES) - 2, 2)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["verification_passed"].passed
    assert checks["parquet_rows_match_committed"].passed
    flagged = checks["invalid_rate_below_threshold"]
    assert not flagged.passed  # failing actor x collection pairs named, not whole shards
    shown = {row.data["partition"] for row in flagged.metadata["lairs_etl/failed_partitions"].value.records}
    assert all(name.startswith("did:") and "|pub.layers." in name for name in shown)
    # Per-actor status outlives the run: the warehouse's stats table has every actor.
    with connect_warehouse(str(sharded.root / "lake" / "warehouse.duckdb")) as con:
        rows = con.execute(
            "SELECT did, sum(records), sum(invalid_records) FROM lairs_actor_collection_stats GROUP BY did"
        ).fetchall()
    by_did = {did: (valid, invalid) for did, valid, invalid in rows}
    for actor in corpus.actors:
        assert by_did[actor.did] == (len(TYPES) - 2, 2)


def test_shard_partitions_sum_their_actors_and_list_them(sharded: Deployment, corpus: SeededCorpus) -> None:
    # Relies on the schedule's run above.
    repo = Repository.open(str(sharded.root / "repo"))
    shard = LAYOUT.primary(corpus.actors[0].did)
    with _instance(sharded) as instance:
        registered = instance.get_dynamic_partitions(ACTORS_PARTITIONS)
        members = [d for d in registered if LAYOUT.primary(d) == shard]
        first = _latest(instance, "fetched", str(LAYOUT.key(shard, TYPES[0])))
        second = _latest(instance, "fetched", str(LAYOUT.key(shard, TYPES[1])))
        per_type = {t: _latest(instance, "validated", str(LAYOUT.key(shard, t))) for t in TYPES}
        per_shard = {
            s: _latest(instance, "committed", str(LAYOUT.key(s, TYPES[0]))) for s in LAYOUT.shard_keys()
        }
    counts = Counter(record.uri.collection for record in repo.iter_records(dids=members))
    for collection, meta in per_type.items():
        assert meta["lairs_etl/actors"] == len(members)
        assert meta["dagster/row_count"] == counts[collection], collection  # the shard's actors' sum
        assert set(meta) <= set(ASSET_METADATA["validated"])
    sizes = Counter(LAYOUT.primary(d) for d in registered)
    assert {s: m["lairs_etl/actors"] for s, m in per_shard.items()} == {s: sizes[s] for s in per_shard}
    status = first["lairs_etl/actor_status"]
    assert {row.data["did"] for row in status.records} == set(members)  # type: ignore[attr-defined]
    assert first["lairs_etl/actor_bytes_fetched"] > 0  # type: ignore[operator]
    assert "lairs_etl/actor_bytes_fetched" not in second  # once per shard, not per collection
    assert "lairs_etl/actor_status" not in second


def test_the_change_sensor_refetches_only_the_actor_that_changed(
    sharded: Deployment, corpus: SeededCorpus
) -> None:
    defs = definitions_from_file(sharded.settings)
    writer = corpus.actors[2].account
    assert writer is not None
    shard = LAYOUT.primary(writer.did)
    with _instance(sharded) as instance:
        quiet = tick_sensor(defs, "lairs_changes", instance)
        assert not [r for r in quiet.run_requests if writer.did in r.tags[ACTORS_TAG].split()]
        writer.create_record("pub.layers.corpus.corpus", minimal_record("pub.layers.corpus.corpus"))
        tick = tick_sensor(defs, "lairs_changes", instance, quiet.cursor)
        (request,) = tick.run_requests
        assert request.tags[ACTORS_TAG] == writer.did
        assert request.tags["dagster/asset_partition_range_start"] == str(LAYOUT.key(shard, TYPES[0]))
        result = execute_run_request(defs, request, instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        assert run.job_name == PARTITIONS_JOB
        first = _latest(instance, "fetched", str(LAYOUT.key(shard, TYPES[0])))
        committed = _latest(instance, "committed", str(LAYOUT.key(shard, "pub.layers.corpus.corpus")))
        members = [
            d for d in instance.get_dynamic_partitions(ACTORS_PARTITIONS) if LAYOUT.primary(d) == shard
        ]
        settled = tick_sensor(defs, "lairs_changes", instance, tick.cursor)
    assert first["lairs_etl/refreshed_actors"] == 1  # the shard's other actors were not re-fetched
    # ... yet the partition still stands for the whole shard: its counts are every member's.
    assert committed["lairs_etl/actors"] == len(members)
    repo_now = Repository.open(str(sharded.root / "repo"))
    in_shard = sum(1 for _ in repo_now.iter_records(dids=members, collections=["pub.layers.corpus.corpus"]))
    assert committed["dagster/row_count"] == in_shard
    status = first["lairs_etl/actor_status"]
    assert [row.data["did"] for row in status.records] == [writer.did]  # type: ignore[attr-defined]
    assert settled.run_requests == ()
    repo = Repository.open(str(sharded.root / "repo"))
    assert len(list(repo.read_collection(None, writer.did, "pub.layers.corpus.corpus"))) == 2
    for other in corpus.actors[:2]:
        state = repo.actors()[other.did]
        assert (state.valid_count, state.invalid_count) == (len(TYPES) - 2, 2)  # untouched, whole
