"""The batching SQLite storage reads back exactly what Dagster's own SQLite storage does.

Two instances run the same single-run backfill over a dynamic x static partition
rectangle (the product's shape, with a check): one on ``storage: sqlite``, one on the
project's :func:`instance_yaml`. Everything a user or the UI reads back must match.
"""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster import AssetExecutionContext
from dagster._core.events.log import EventLogEntry

from lairs_etl.dagster.storage import (
    BATCH_SIZE_ENV,
    BatchingSqliteEventLogStorage,
    BatchingSqliteStorage,
    instance_yaml,
)

_ACTORS = ["did:plc:aaa", "did:plc:bbb", "did:plc:ccc"]
_COLLECTIONS = ["x.one", "x.two", "x.three", "x.four"]
_PARTITIONS = dg.MultiPartitionsDefinition(
    {
        "actor": dg.DynamicPartitionsDefinition(name="actor"),
        "collection": dg.StaticPartitionsDefinition(_COLLECTIONS),
    }
)
_STAGES = (dg.AssetKey(["t", "first"]), dg.AssetKey(["t", "second"]))
_SQLITE_YAML = "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\ntelemetry:\n  enabled: false\n"


@dg.multi_asset(
    specs=[dg.AssetSpec(key) for key in _STAGES],
    check_specs=[dg.AssetCheckSpec("nonempty", asset=_STAGES[1])],
    partitions_def=_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def _stages(context: AssetExecutionContext) -> Iterator[Any]:
    for key in context.partition_keys:
        for n, asset_key in enumerate(_STAGES):
            metadata = {"rows": len(key) + n, "key": key}
            context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    for asset_key in _STAGES:
        yield dg.MaterializeResult(asset_key=asset_key)
    yield dg.AssetCheckResult(asset_key=_STAGES[1], check_name="nonempty", passed=True)


@pytest.fixture(autouse=True)
def _batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The storage sets the variable for Dagster when unset; keep that inside each test.
    monkeypatch.setenv(BATCH_SIZE_ENV, "1000")


def _instance(home: Path, yaml: str, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.from_config(str(home))


def _backfill(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    new = [a for a in _ACTORS if not instance.has_dynamic_partition("actor", a)]
    instance.add_dynamic_partitions("actor", new)
    tags = {
        "dagster/asset_partition_range_start": f"{_ACTORS[0]}|{_COLLECTIONS[0]}",
        "dagster/asset_partition_range_end": f"{_ACTORS[-1]}|{_COLLECTIONS[-1]}",
    }
    result = dg.materialize([_stages], instance=instance, tags=tags)
    assert result.success
    return result


def _read_back(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    """Everything the UI and the product's sensors read, without ids and times."""
    seen: dict[str, Any] = {}
    for key in _STAGES:
        partitions = sorted(instance.get_materialized_partitions(key))
        seen[f"{key.to_user_string()} partitions"] = partitions
        per_partition = {}
        for partition in partitions:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=5
            ).records
            per_partition[partition] = [
                {k: v.value for k, v in r.asset_materialization.metadata.items()}  # type: ignore[union-attr]
                for r in records
            ]
        seen[f"{key.to_user_string()} metadata"] = per_partition
        for actor in _ACTORS:
            # The partition-dimension tag index, which the parent writes per event (data
            # versions, also indexed, differ from run to run).
            tags = instance.event_log_storage.get_event_tags_for_asset(
                key, filter_tags={"dagster/partition/actor": actor}
            )
            seen[f"{key.to_user_string()} {actor}"] = sorted(
                sorted((k, v) for k, v in t.items() if k.startswith("dagster/partition/")) for t in tags
            )
        latest = instance.get_latest_materialization_event(key)
        assert latest is not None
        assert latest.dagster_event is not None
        seen[f"{key.to_user_string()} latest"] = latest.dagster_event.partition
        (record,) = instance.get_asset_records([key])
        entry = record.asset_entry
        assert entry.last_materialization_record is not None
        seen[f"{key.to_user_string()} entry"] = (
            entry.last_run_id == run_id,
            entry.last_materialization_record.event_log_entry.dagster_event.partition,  # type: ignore[union-attr]
        )
        status = instance.get_status_by_partition(key, partitions, _PARTITIONS)
        seen[f"{key.to_user_string()} status"] = {p: s.value for p, s in (status or {}).items()}
        planned = instance.event_log_storage.get_latest_planned_materialization_info(key)
        seen[f"{key.to_user_string()} planned"] = planned is not None and planned.run_id == run_id
    check = dg.AssetCheckKey(_STAGES[1], "nonempty")
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=5)
    seen["check"] = [(h.run_id == run_id, h.status.value) for h in history]
    seen["run events"] = [
        e.dagster_event_type.value
        for e in instance.all_logs(run_id)
        if e.dagster_event_type is not None
    ]
    return seen


def test_reads_back_like_dagsters_own_sqlite_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _instance(tmp_path / "sqlite", _SQLITE_YAML, monkeypatch) as plain:
        first = _backfill(plain)
        second = _backfill(plain)
        expected = _read_back(plain, second.run_id)
        assert first.run_id != second.run_id
    with _instance(tmp_path / "batching", instance_yaml(), monkeypatch) as batching:
        assert isinstance(batching.event_log_storage, BatchingSqliteEventLogStorage)
        _backfill(batching)
        second = _backfill(batching)
        got = _read_back(batching, second.run_id)
    assert got == expected
    assert len(expected["t/first partitions"]) == len(_ACTORS) * len(_COLLECTIONS)
    assert all(len(v) == 2 for v in expected["t/second metadata"].values())


def test_partition_events_are_stored_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored: list[int] = []
    original = BatchingSqliteEventLogStorage._store_asset_events

    def counting(self: BatchingSqliteEventLogStorage, events: Any) -> None:
        stored.append(len(events))
        original(self, events)

    monkeypatch.setattr(BatchingSqliteEventLogStorage, "_store_asset_events", counting)
    with _instance(tmp_path / "home", instance_yaml(), monkeypatch) as instance:
        result = _backfill(instance)
    partitions = len(_ACTORS) * len(_COLLECTIONS)
    # One batch of planned events for the run, one of materializations per asset.
    assert stored.count(partitions) == 2
    assert stored.count(len(_STAGES) * partitions) == 1
    assert len(result.get_asset_materialization_events()) == len(_STAGES) * partitions


def test_batching_off_stores_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BATCH_SIZE_ENV, "0")
    with _instance(tmp_path / "home", instance_yaml(event_batch_size=0), monkeypatch) as instance:
        result = _backfill(instance)
        assert len(instance.get_materialized_partitions(_STAGES[1])) == len(_ACTORS) * len(_COLLECTIONS)
        assert result.success


def test_an_existing_sqlite_home_carries_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    with _instance(home, _SQLITE_YAML, monkeypatch) as before:
        earlier = _backfill(before)
    with _instance(home, instance_yaml(), monkeypatch) as after:
        assert after.get_run_by_id(earlier.run_id) is not None
        assert len(after.get_materialized_partitions(_STAGES[0])) == len(_ACTORS) * len(_COLLECTIONS)
        later = _backfill(after)
        counts = {
            partition: len(
                after.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=_STAGES[0], asset_partitions=[partition]), limit=5
                ).records
            )
            for partition in after.get_materialized_partitions(_STAGES[0])
        }
    assert set(counts.values()) == {2}
    assert later.run_id != earlier.run_id


def test_the_projects_dagster_home_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project_yaml = Path(__file__).parents[2] / "dagster_home" / "dagster.yaml"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(project_yaml, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        result = _backfill(instance)
    assert (home / "history" / "runs" / f"{result.run_id}.db").is_file()


def test_many_runs_stay_readable_with_a_bounded_engine_cache(tmp_path: Path) -> None:
    storage = BatchingSqliteStorage(str(tmp_path / "home"), event_batch_size=0)
    events = storage.event_log_storage
    run_ids = [f"run-{n:03d}" for n in range(48)]
    for run_id in run_ids:
        events.store_event(
            EventLogEntry(
                error_info=None,
                level=20,
                user_message=f"hello from {run_id}",
                run_id=run_id,
                timestamp=time.time(),
            )
        )
    for run_id in run_ids:
        (record,) = events.get_records_for_run(run_id).records
        assert record.event_log_entry.user_message == f"hello from {run_id}"
    assert isinstance(events, BatchingSqliteEventLogStorage)
    assert len(events._engines) <= 32  # a daemon sees thousands of runs
