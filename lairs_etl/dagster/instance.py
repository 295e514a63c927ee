"""The ``dagster.yaml`` this project's deployments, the demo, the tests and benches use.

Dagster's own SQLite storage (``storage: sqlite``) under the instance's home by default,
or Dagster's own Postgres storage (``storage: postgres``, package ``dagster-postgres``,
the ``postgres`` extra) for runs, events and schedules when several runs write at once;
telemetry off; the refresh op's pool (``lairs_pds``) given slots and runs capped per PDS
host, so no instance warns of a pool without slots. The committed
``dagster_home/dagster.yaml`` says the same (a test keeps them equal). Only public,
documented configuration: an earlier version subclassed Dagster's private SQLite event
log to batch writes, which the project's rule (public Dagster API only) does not allow.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from lairs_etl.dagster.constants import PDS_HOST_TAG

__all__ = ["PostgresStorage", "instance_yaml"]

_CONCURRENCY: dict[str, Any] = {
    "pools": {"default_limit": 4},
    "runs": {
        "max_concurrent_runs": 8,
        "tag_concurrency_limits": [
            {"key": PDS_HOST_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 2},
        ],
    },
}
"""At most 4 refresh steps at once in any pool, 8 runs, 2 runs per PDS host (runs carry
:data:`~lairs_etl.dagster.constants.PDS_HOST_TAG`): one host is never hit by more."""


@dataclass(frozen=True, slots=True)
class PostgresStorage:
    """Where Dagster keeps runs, events and schedules in PostgreSQL.

    The password is never part of the file: Dagster reads it from the environment
    variable ``password_env`` when the instance starts (``{env: …}`` in the YAML).
    Once per new database, set the refresh pool's slots explicitly
    (``dagster instance concurrency set lairs_pds 4``): Dagster 1.13 creates a pool's
    limit from ``default_limit`` on first use, and on Postgres two runs doing so at once
    fail one of them.
    """

    hostname: str
    db_name: str
    username: str
    port: int = 5432
    password_env: str = "DAGSTER_PG_PASSWORD"  # noqa: S105  # a variable's name, not a password
    pooled: bool = False
    """Hold a pooled connection in each process (:mod:`lairs_etl.dagster.pooled`) instead
    of ``dagster-postgres``'s connection per statement: for runs that record many
    partitions."""


def instance_yaml(base_dir: str | None = None, *, postgres: PostgresStorage | None = None) -> str:
    """A ``dagster.yaml``: SQLite storage under ``base_dir`` (or Postgres), telemetry off, slots.

    Without ``base_dir`` the SQLite storage follows ``$DAGSTER_HOME`` (which must then be
    set, as for ``dagster dev``); with it, the file also works from
    ``DagsterInstance.from_config``. With ``postgres``, runs, event log and schedules
    all go to that database (``base_dir`` then only matters to nothing here: artifacts
    follow ``$DAGSTER_HOME`` or the instance directory).
    """
    config: dict[str, Any]
    if postgres is None:
        config = {
            "storage": {"sqlite": {"base_dir": {"env": "DAGSTER_HOME"} if base_dir is None else base_dir}}
        }
    elif postgres.pooled:
        config = {
            key: _storage_class(module, cls, postgres) for key, (module, cls) in _POOLED_STORAGES.items()
        }
    else:
        config = {"storage": {"postgres": {"postgres_db": _postgres_db(postgres)}}}
    config |= {"telemetry": {"enabled": False}, "concurrency": copy.deepcopy(_CONCURRENCY)}
    return str(yaml.safe_dump(config, sort_keys=False))


_POOLED_STORAGES = {
    "run_storage": ("lairs_etl.dagster.pooled", "PooledPostgresRunStorage"),
    "event_log_storage": ("lairs_etl.dagster.pooled", "PooledPostgresEventLogStorage"),
    "schedule_storage": ("dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
}
"""Dagster's per-storage keys (the form ``storage: postgres`` abbreviates): runs and
events pooled; schedules are written once per tick, so Dagster's own class serves."""


def _storage_class(module: str, cls: str, postgres: PostgresStorage) -> dict[str, Any]:
    return {"module": module, "class": cls, "config": {"postgres_db": _postgres_db(postgres)}}


def _postgres_db(postgres: PostgresStorage) -> dict[str, Any]:
    return {
        "hostname": postgres.hostname,
        "port": postgres.port,
        "db_name": postgres.db_name,
        "username": postgres.username,
        "password": {"env": postgres.password_env},
        # SQLAlchemy 2.1 made psycopg 3 the driver of a bare `postgresql://`;
        # dagster-postgres installs psycopg2, so name it.
        "scheme": "postgresql+psycopg2",
    }
