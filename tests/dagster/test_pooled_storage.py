"""The pooled Postgres storage (``instance_yaml(postgres=…pooled=True)``) on a real server.

What a deployment would notice: a run that records many partitions opens a handful of
database connections instead of one per event, and records every event all the same.
Connections are counted where SQLAlchemy opens them (``psycopg2.connect``).
"""

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from lairs_etl.dagster.instance import PostgresStorage, instance_yaml
from lairs_etl.dagster.pooled import PooledPostgresEventLogStorage, PooledPostgresRunStorage
from tests.fixtures.postgres import PASSWORD_ENV, PostgresServer

pytestmark = [pytest.mark.postgres]

PARTITIONS = StaticPartitionsDefinition([f"p{n:02d}" for n in range(24)])


@asset(partitions_def=PARTITIONS)
def many(context: AssetExecutionContext) -> MaterializeResult:
    """One materialization per partition of the run's range (as the refresh records them)."""
    return MaterializeResult(metadata={"partitions": len(context.partition_keys)})


@pytest.fixture
def counted_connects(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every connection psycopg2 opens from now on (SQLAlchemy looks ``connect`` up per call)."""
    opened: list[int] = []
    real: Callable[..., Any] = psycopg2.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(psycopg2, "connect", connect)
    return opened


def _instance(server: PostgresServer, tmp_path: Path, *, pooled: bool) -> DagsterInstance:
    storage = PostgresStorage(
        server.host, server.database("pool"), server.user, server.port, password_env=PASSWORD_ENV
    )
    home = tmp_path / ("pooled" if pooled else "dagster") / storage.db_name
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(str(home), postgres=replace(storage, pooled=pooled)))
    return DagsterInstance.from_config(str(home))


def _run_all_partitions(instance: DagsterInstance, opened: list[int]) -> int:
    """Materialize every partition in one run; the connections it opened."""
    keys = PARTITIONS.get_partition_keys()
    before = len(opened)
    result = materialize(
        [many],
        instance=instance,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
    )
    assert result.success
    return len(opened) - before


@pytest.mark.parametrize("pooled", [False, True], ids=["dagster-postgres", "pooled"])
def test_a_run_of_many_partitions_opens_a_handful_of_connections_when_pooled(
    postgres_server: PostgresServer, tmp_path: Path, counted_connects: list[int], pooled: bool
) -> None:
    with _instance(postgres_server, tmp_path, pooled=pooled) as instance:
        if pooled:
            assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
            assert isinstance(instance.run_storage, PooledPostgresRunStorage)
        opened = _run_all_partitions(instance, counted_connects)
        # Nothing lost either way: every partition's materialization is recorded.
        assert set(instance.get_materialized_partitions(AssetKey("many"))) == set(
            PARTITIONS.get_partition_keys()
        )
    partitions = len(PARTITIONS.get_partition_keys())
    if pooled:
        assert opened <= 8, opened  # one held per storage, a few on first use (4 here)
    else:
        assert opened >= partitions, opened  # Dagster's own: a connection per event write


def _sessions(server: PostgresServer, database: str) -> int:
    """Connections open to ``database`` now, besides the one asking."""
    with (
        psycopg2.connect(
            host=server.host, port=server.port, user=server.user, password=server.password, dbname=database
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = %s", (database,))
        (count,) = cursor.fetchone() or (0,)
    connection.close()
    return int(count)


def _closed(server: PostgresServer, database: str, polls: int = 100) -> bool:
    """Whether the server lists no session of ``database`` within ``polls`` looks.

    A closed connection's server process exits on its own schedule, so the count is
    polled rather than read once (a leak stays above 0 for good).
    """
    for _ in range(polls):
        if _sessions(server, database) == 0:
            return True
        time.sleep(0.05)
    return False


def test_disposing_of_a_pooled_instance_closes_its_connections(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # Dagster opens and disposes of an instance per sensor tick in a code server: held
    # connections must not outlive it.
    for _ in range(3):
        with _instance(postgres_server, tmp_path / "ticks", pooled=True) as instance:
            instance.get_runs(limit=1)
            database = instance.event_log_storage.postgres_url.rsplit("/", 1)[-1]
            assert _sessions(postgres_server, database) >= 2  # the run and event storages' own
        assert _closed(postgres_server, database)


def test_the_pooled_instance_file_pools_runs_and_events_and_keeps_the_password_out() -> None:
    storage = PostgresStorage("127.0.0.1", "corpus", "lairs", 5433, pooled=True)
    config = yaml.safe_load(instance_yaml(postgres=storage))
    assert "storage" not in config  # Dagster's per-storage keys instead of `storage: postgres`
    named = {
        key: (config[key]["module"], config[key]["class"]) for key in ("run_storage", "event_log_storage")
    }
    assert named == {
        "run_storage": ("lairs_etl.dagster.pooled", "PooledPostgresRunStorage"),
        "event_log_storage": ("lairs_etl.dagster.pooled", "PooledPostgresEventLogStorage"),
    }
    for key in ("run_storage", "event_log_storage", "schedule_storage"):
        database = config[key]["config"]["postgres_db"]
        assert database["password"] == {"env": "DAGSTER_PG_PASSWORD"}
        assert (database["hostname"], database["port"], database["db_name"]) == ("127.0.0.1", 5433, "corpus")
