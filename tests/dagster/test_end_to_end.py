"""End to end against the real PDS: discovery, CLI and in-process runs, sensors, schedule.

One deployment (settings + a temporary DAGSTER_HOME) per module; tests run in file
order and each states what it relies on from the ones before.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    JobDefinition,
    ReexecutionOptions,
    execute_job,
    reconstructable,
)

from lairs_etl.dagster import definitions_from_file, partition_key
from lairs_etl.dagster.constants import (
    ACTORS_PARTITIONS,
    ASSET_METADATA,
    META_ACTOR_BYTES,
    META_ACTOR_SECONDS,
    PARTITIONS_JOB,
    REFRESH_JOB,
)
from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests, tick_sensor
from lairs_etl.demo import SeededCorpus, minimal_record
from lairs_etl.localpds import LocalPds
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.views import TableKey, partition_path, read_manifest
from tests.dagster.conftest import Deployment
from tests.views.lake import lake_files

# A full refresh here fetches every actor the session PDS holds (other modules' too), and
# on Postgres each partition costs ~0.6 s of event-log writes: on a slow day that nears
# the suite's 600 s per-test limit, so these tests get more.
pytestmark = [pytest.mark.pds, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
STAGES = "layers/fetched,layers/validated,layers/committed,layers/parquet"
TYPES = record_types()


def _instance(deployment: Deployment) -> DagsterInstance:
    return DagsterInstance.from_config(str(deployment.home))


def _materialized(instance: DagsterInstance, stage: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(["layers", stage])))


def _cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "asset", "materialize", "-f", str(ROOT / "definitions.py"), "--select", STAGES, *args]
    return subprocess.run(
        command,
        env={**os.environ, **deployment.env()},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_discovery_adds_layers_actors_and_reports_inactive_ones(
    deployment: Deployment, corpus: SeededCorpus, pds_account: object, local_pds: LocalPds
) -> None:
    plain = pds_account("plain")  # type: ignore[operator]  # no Layers records: never added
    gone = pds_account("gone")  # type: ignore[operator]
    gone.create_record(TYPES[0], minimal_record(TYPES[0]))
    gone.deactivate()
    defs = definitions_from_file(deployment.settings)
    with _instance(deployment) as instance:
        tick = tick_sensor(defs, "lairs_discovery", instance)
        registered = set(instance.get_dynamic_partitions(ACTORS_PARTITIONS))
        again = tick_sensor(defs, "lairs_discovery", instance, tick.cursor)
    assert set(corpus.dids) <= set(tick.added) == registered
    assert plain.did not in registered
    assert gone.did not in registered
    assert json.loads(tick.cursor or "{}")["inactive"][gone.did] == "deactivated"
    assert again.added == ()


def test_cli_materializes_one_partition(deployment: Deployment, corpus: SeededCorpus) -> None:
    actor = corpus.actors[0]
    key = str(partition_key(actor.did, "pub.layers.expression.expression"))
    done = _cli(deployment, "--partition", key)
    assert done.returncode == 0, done.stderr[-3000:]
    with _instance(deployment) as instance:
        assert _materialized(instance, "parquet") == {key}
    with _instance(deployment) as instance:
        (record,) = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(["layers", "parquet"]), asset_partitions=[key]), limit=1
        ).records
    assert record.asset_materialization is not None
    path = record.asset_materialization.metadata["lairs_etl/parquet_path"].value
    # The partition asset writes the same lake as `lairs-etl materialize`: typed tables, hive layout.
    table_key = TableKey("records", "pub.layers.expression.expression")
    manifest = read_manifest(str(deployment.root / "lake"))
    assert manifest is not None
    entry = manifest.table(table_key)
    assert entry is not None
    lake = str(deployment.root / "lake")
    assert path == partition_path(lake, table_key, 1, actor.did, entry.files[actor.did])
    table = pq.read_table(path)
    assert table.num_rows == actor.count("pub.layers.expression.expression", valid=True)
    assert set(table.column("did").to_pylist()) == {actor.did}


def test_cli_materializes_a_partition_range_in_one_run(deployment: Deployment, corpus: SeededCorpus) -> None:
    did = corpus.actors[1].did
    first, last = partition_key(did, TYPES[0]), partition_key(did, TYPES[-1])
    done = _cli(deployment, "--partition-range", f"{first}...{last}")
    assert done.returncode == 0, done.stderr[-3000:]
    with _instance(deployment) as instance:
        committed = _materialized(instance, "committed")
        runs = instance.get_runs()
    assert {str(partition_key(did, t)) for t in TYPES} <= committed
    assert len(runs) == 2  # one run per CLI call, whatever the range size
    repo = Repository.open(str(deployment.root / "repo"))
    stored = list(repo.iter_records(dids=[did]))
    assert {str(r.uri) for r in stored} == {str(u) for u in corpus.actors[1].uris}
    state = repo.actors()[did]
    assert (state.valid_count, state.invalid_count) == (len(TYPES) - 2, 2)


def test_schedule_run_refreshes_everything_and_flags_invalid_records(
    deployment: Deployment, corpus: SeededCorpus
) -> None:
    defs = definitions_from_file(deployment.settings)
    with _instance(deployment) as instance:
        actors = instance.get_dynamic_partitions(ACTORS_PARTITIONS)
        (request,) = schedule_run_requests(defs, "lairs_refresh", instance)
        result = execute_run_request(defs, request, instance)
        parquet = _materialized(instance, "parquet")
        snapshot = instance.get_latest_materialization_event(AssetKey(["layers", "snapshot"]))
        run = instance.get_run_by_id(result.run_id)
    assert result.success
    assert run is not None
    assert run.job_name == REFRESH_JOB  # a named job: its page opens and the run can be re-executed
    assert parquet == {str(partition_key(a, t)) for a in actors for t in TYPES}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["verification_passed"].passed
    assert checks["parquet_rows_match_committed"].passed
    flagged = checks["invalid_rate_below_threshold"]
    assert not flagged.passed
    shown = {row.data["partition"] for row in flagged.metadata["lairs_etl/failed_partitions"].value.records}
    seeded_bad = {f"{a.did}|{u.collection}" for a in corpus.actors for u in a.invalid}
    # The session PDS also holds other tests' accounts, so the check's list (capped) may
    # not reach ours: every listed partition is over the threshold, and each seeded bad
    # partition's own materialization says how many invalid records it holds.
    assert shown
    assert flagged.metadata["lairs_etl/failed_count"].value >= len(seeded_bad)
    with _instance(deployment) as instance:
        for partition in seeded_bad:
            (record,) = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(["layers", "validated"]), asset_partitions=[partition]),
                limit=1,
            ).records
            assert record.asset_materialization is not None
            metadata = record.asset_materialization.metadata
            assert metadata["lairs_etl/invalid"].value >= 1, partition
            sample = metadata["lairs_etl/diagnostics"].value
            bad_here = {
                str(u) for a in corpus.actors for u in a.invalid if f"{a.did}|{u.collection}" == partition
            }
            assert bad_here <= {row.data["uri"] for row in sample.records}, partition
            assert "lairs_etl/diagnostics_path" in metadata
        clean = next(f"{a.did}|{t}" for a in corpus.actors for t in TYPES if f"{a.did}|{t}" not in seeded_bad)
        (record,) = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(["layers", "validated"]), asset_partitions=[clean]), limit=1
        ).records
        assert record.asset_materialization is not None
        assert record.asset_materialization.metadata["lairs_etl/invalid"].value == 0
        assert "lairs_etl/diagnostics" not in record.asset_materialization.metadata
    current = lake_files(str(deployment.root / "lake"))  # the files the tables hold now
    invalid = [  # with their diagnostics
        row
        for path, data in current.items()
        if path.startswith("/invalid/")
        for row in pq.read_table(io.BytesIO(data)).to_pylist()
    ]
    flagged_uris = {row["uri"] for row in invalid if row["diagnostics"]}
    assert {str(u) for a in corpus.actors for u in a.invalid} <= flagged_uris
    assert snapshot is not None
    assert snapshot.asset_materialization is not None
    tag = snapshot.asset_materialization.metadata["lairs_etl/tag"].value
    assert Repository.open(str(deployment.root / "repo")).tags()[str(tag)].encode() == (
        snapshot.asset_materialization.metadata["lairs_etl/commit"].value
    )


def test_partition_metadata_is_the_partitions_own_and_every_key_is_described(
    deployment: Deployment, corpus: SeededCorpus
) -> None:
    # Relies on the schedule's run above: every actor x collection materialized once.
    actor = corpus.actors[0]
    keys = [str(partition_key(actor.did, t)) for t in TYPES]
    with _instance(deployment) as instance:
        refresh = next(r.run_id for r in instance.get_runs() if r.job_name == REFRESH_JOB)
        by_stage = {}
        for stage in STAGES.replace("layers/", "").split(","):
            wanted = AssetRecordsFilter(asset_key=AssetKey(["layers", stage]), asset_partitions=keys)
            records = instance.fetch_materializations(wanted, limit=1000).records
            by_stage[stage] = [
                r.asset_materialization.metadata
                for r in records
                if r.asset_materialization is not None and r.run_id == refresh
            ]
        downstream = {
            stage: instance.get_latest_materialization_event(AssetKey(["layers", stage]))
            for stage in ("snapshot", "warehouse")
        }
    metadata = {}
    for stage, event in downstream.items():
        assert event is not None
        assert event.asset_materialization is not None
        metadata[stage] = event.asset_materialization.metadata
        assert set(metadata[stage]) <= set(ASSET_METADATA[stage]), stage
    views = {r.data["view"] for r in metadata["warehouse"]["lairs_etl/table_rows"].value.records}
    assert {"expressions", "annotations"} <= views  # rows per view, as a table
    for stage, entries in by_stage.items():
        assert len(entries) == len(TYPES), stage
        # Every key a materialization carries is one the asset's description explains.
        assert {key for meta in entries for key in meta} <= set(ASSET_METADATA[stage]), stage
        # The actor's time per stage is on one of its 26 partitions, not repeated on each.
        assert sum(META_ACTOR_SECONDS in meta for meta in entries) == 1, stage
    fetched = by_stage["fetched"]
    assert [META_ACTOR_BYTES in meta for meta in fetched].count(True) == 1
    (total,) = [meta[META_ACTOR_BYTES].value for meta in fetched if META_ACTOR_BYTES in meta]
    assert total > 0


def test_change_sensor_requests_only_the_actor_that_changed(
    deployment: Deployment, corpus: SeededCorpus
) -> None:
    defs = definitions_from_file(deployment.settings)
    with _instance(deployment) as instance:
        quiet = tick_sensor(defs, "lairs_changes", instance)
        assert not [r for r in quiet.run_requests if r.run_key and r.run_key.split("@")[0] in corpus.dids]
        writer = corpus.actors[2].account
        assert writer is not None
        writer.create_record("pub.layers.corpus.corpus", minimal_record("pub.layers.corpus.corpus"))
        tick = tick_sensor(defs, "lairs_changes", instance, quiet.cursor)
        assert [r.run_key.split("@")[0] for r in tick.run_requests if r.run_key] == [writer.did]
        result = execute_run_request(defs, tick.run_requests[0], instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        assert run.job_name == PARTITIONS_JOB
        settled = tick_sensor(defs, "lairs_changes", instance, tick.cursor)
    assert settled.run_requests == ()
    repo = Repository.open(str(deployment.root / "repo"))
    assert len(list(repo.read_collection(None, writer.did, "pub.layers.corpus.corpus"))) == 2


def refresh_job() -> JobDefinition:
    """The deployment's refresh job, rebuilt where a re-execution runs (``reconstructable``)."""
    return definitions_from_file(os.environ["LAIRS_CONFIG"]).resolve_job_def(REFRESH_JOB)


def test_the_schedules_run_re_executes_from_its_job(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the UI's "Re-execute" does: a new run of the parent's job (here its warehouse step).
    monkeypatch.setenv("LAIRS_CONFIG", str(deployment.settings))
    with _instance(deployment) as instance:
        (parent,) = [r for r in instance.get_runs() if r.job_name == REFRESH_JOB]
        steps = [s.step_key for s in instance.get_run_step_stats(parent.run_id)]
        warehouse = [k for k in steps if "warehouse" in k]
        assert warehouse, steps
        with execute_job(
            reconstructable(refresh_job),
            instance,
            run_config={"execution": {"config": {"in_process": {}}}},
            reexecution_options=ReexecutionOptions(parent.run_id, step_selection=warehouse),
        ) as result:
            assert result.success
            child = instance.get_run_by_id(result.run_id)
        latest = instance.get_latest_materialization_event(AssetKey(["layers", "warehouse"]))
    assert child is not None
    assert child.job_name == REFRESH_JOB
    assert child.parent_run_id == parent.run_id
    assert latest is not None
    assert latest.run_id == child.run_id  # the re-executed step materialized the warehouse again
