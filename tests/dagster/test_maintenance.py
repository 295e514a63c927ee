"""The maintenance schedule keeps a refreshed lake lean: old snapshots expire, rows stay.

No ``from __future__ import annotations``: the module builds Dagster definitions.
"""

import datetime as dt
import glob
from pathlib import Path

import pytest
from dagster import DefaultScheduleStatus, ExecuteInProcessResult

from lairs_etl.dagster import build_definitions
from lairs_etl.dagster.constants import (
    MAINTENANCE_JOB,
    META_FILES_REMOVED,
    META_MANIFESTS_AFTER,
    META_MANIFESTS_BEFORE,
    META_SNAPSHOTS_EXPIRED,
    META_TABLES_COMPACTED,
)
from lairs_etl.dagster.maintenance import SCHEDULE_NAME, build_maintenance_job
from lairs_etl.dagster.resource import LakeResource
from lairs_etl.dagster.settings import LairsSettings, RefreshSettings
from lairs_etl.errors import ConfigError
from lairs_etl.repo.repository import Repository
from lairs_etl.views import RepositorySource, build_warehouse, connect_warehouse, materialize
from lairs_etl.views.iceberg import LakeCatalog
from tests.views.repo_fixture import demo_repository, drop_one_expression


def _settings(tmp_path: Path, **maintenance: object) -> LairsSettings:
    return LairsSettings.model_validate(
        {
            "repository": {"url": str(tmp_path / "repo")},
            "lake": {"url": str(tmp_path / "lake")},
            "maintenance": maintenance,
        }
    )


def _two_syncs(tmp_path: Path) -> str:
    """A lake written from two commits (bob drops an expression in the second): two snapshots."""
    repo_url, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    first = demo_repository(repo_url)
    repo = Repository.open(repo_url)
    materialize(RepositorySource(repo, first), lake)
    materialize(RepositorySource(repo, drop_one_expression(repo)), lake)
    return lake


def _state(lake: str) -> tuple[int, dict[str, list[str]]]:
    """Snapshots over all tables, and each table's current rows (in a comparable order)."""
    tables = LakeCatalog(lake, None).all_tables()
    snapshots = sum(len(t.metadata.snapshots) for t in tables)
    rows = {t.name()[-1]: sorted(map(repr, t.scan().to_arrow().to_pylist())) for t in tables}
    return snapshots, rows


@pytest.mark.parametrize(("running", "status"), [(False, "STOPPED"), (True, "RUNNING")])
def test_the_schedule_runs_the_maintenance_job_nightly(tmp_path: Path, running: bool, status: str) -> None:
    settings = _settings(tmp_path).model_copy(update={"refresh": RefreshSettings(sensors_running=running)})
    schedule = build_definitions(settings).resolve_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == "30 4 * * *"
    assert schedule.job_name == MAINTENANCE_JOB
    assert schedule.default_status == DefaultScheduleStatus[status]  # as the refresh schedule's


def test_maintenance_expires_old_snapshots_and_superseded_files_and_keeps_every_row(tmp_path: Path) -> None:
    lake = _two_syncs(tmp_path)
    snapshots_before, rows_before = _state(lake)
    files_before = set(glob.glob(f"{lake}/**/*.parquet", recursive=True))
    assert snapshots_before > len(rows_before)  # at least one table holds two snapshots
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)  # as the refresh leaves it: pinned to each table's current snapshot
    counts_before = _view_counts(db)

    # The retention is 7 days; the clock says 8 days have passed since both syncs.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    job = build_maintenance_job(expire_older_than="7d", compact=True, clock=lambda: later)
    result = job.execute_in_process(resources={"lake": LakeResource(url=lake)})
    assert result.success
    shown = _shown(result)

    snapshots_after, rows_after = _state(lake)
    assert shown[META_SNAPSHOTS_EXPIRED] == snapshots_before - len(rows_before)  # all but the current
    assert shown[META_TABLES_COMPACTED]  # two syncs left tables with manifests to merge
    assert shown[META_MANIFESTS_AFTER] < shown[META_MANIFESTS_BEFORE]  # type: ignore[operator]
    # Each table: its current snapshot, plus the compaction's for those it merged.
    assert snapshots_after == len(rows_after) + shown[META_TABLES_COMPACTED]  # type: ignore[operator]
    assert rows_after == rows_before  # nothing a reader sees changed
    files_after = set(glob.glob(f"{lake}/**/*.parquet", recursive=True))
    assert files_after < files_before  # the superseded partition files are gone
    assert shown[META_FILES_REMOVED] >= len(files_before - files_after)  # type: ignore[operator]
    # The warehouse built before still reads: expiry kept the snapshots it is pinned to.
    assert _view_counts(db) == counts_before


def test_a_fresh_lake_loses_nothing_to_the_default_retention(tmp_path: Path) -> None:
    lake = _two_syncs(tmp_path)
    before = _state(lake)
    defs = build_definitions(_settings(tmp_path))  # 7d: both syncs are seconds old
    result = defs.resolve_job_def(MAINTENANCE_JOB).execute_in_process()
    assert result.success
    shown = _shown(result)
    assert (shown[META_SNAPSHOTS_EXPIRED], shown[META_FILES_REMOVED]) == (0, 0)
    after = _state(lake)
    assert after[0] == before[0] + shown[META_TABLES_COMPACTED]  # type: ignore[operator]
    assert after[1] == before[1]


def test_each_step_can_be_turned_off(tmp_path: Path) -> None:
    lake = _two_syncs(tmp_path)
    expiry_only = build_maintenance_job(expire_older_than="7d", compact=False)
    shown = _shown(expiry_only.execute_in_process(resources={"lake": LakeResource(url=lake)}))
    assert META_SNAPSHOTS_EXPIRED in shown
    assert META_TABLES_COMPACTED not in shown
    compaction_only = build_maintenance_job(expire_older_than=None, compact=True)
    shown = _shown(compaction_only.execute_in_process(resources={"lake": LakeResource(url=lake)}))
    assert META_TABLES_COMPACTED in shown
    assert META_SNAPSHOTS_EXPIRED not in shown
    neither = build_definitions(_settings(tmp_path, compact=False, expire_older_than=None))
    assert MAINTENANCE_JOB not in {job.name for job in neither.jobs or ()}
    assert SCHEDULE_NAME not in {schedule.name for schedule in neither.schedules or ()}


@pytest.mark.parametrize("retention", ["weekly", "12h", "2026-01-01T00:00:00+00:00"])
def test_a_retention_that_is_not_an_age_of_a_day_or_more_fails_at_load(
    tmp_path: Path, retention: str
) -> None:
    with pytest.raises(ConfigError, match="expire_older_than"):
        LairsSettings.from_yaml(_yaml(tmp_path, f"expire_older_than: '{retention}'"))
    assert (
        LairsSettings.from_yaml(_yaml(tmp_path, "expire_older_than: 36h")).maintenance.expire_older_than
        == "36h"
    )
    kept = LairsSettings.from_yaml(_yaml(tmp_path, "expire_older_than: null"))
    assert kept.maintenance.expire_older_than is None


def _view_counts(db: str) -> dict[str, int]:
    """Rows of every view of the warehouse (a view whose files are gone raises)."""
    with connect_warehouse(db) as con:
        views = [
            row[0]
            for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        ]
        return {view: con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0] for view in views}  # type: ignore[index]


def _shown(result: ExecuteInProcessResult) -> dict[str, object]:
    """The maintenance op's output metadata, as the run's page shows it."""
    return {
        key: value.value
        for event in result.all_node_events
        if event.event_type_value == "STEP_OUTPUT"
        for key, value in event.step_output_data.metadata.items()
    }


def _yaml(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "lairs.yaml"
    path.write_text(
        f"repository: {{url: repo}}\nlake: {{url: lake}}\nmaintenance:\n  {line}\n", encoding="utf-8"
    )
    return path
