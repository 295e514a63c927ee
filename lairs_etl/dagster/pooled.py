"""Dagster's Postgres storages holding one pooled connection: an opt-in for busy run workers.

``dagster-postgres`` opens a new connection for every statement outside the webserver
(SQLAlchemy's ``NullPool``), so a run that records hundreds of partitions pays a TCP
connect and a SCRAM handshake per event write and per dynamic-partition lookup: a py-spy
profile of the refresh bench put 55 % of a Postgres run there (README, **Performance**).
These subclasses of the package's public storage classes switch, right after Dagster's
own construction, to the pooled engine the webserver already uses, through the public
``optimize_for_webserver`` (one connection held per storage, :data:`POOL_MAX_OVERFLOW`
more while threads of the process query at once, recycled hourly). That method also sets
``statement_timeout`` on each connection; these pass 0 (none), as Dagster's own storages
have none outside the webserver, which overrides a timeout the role or database sets.
They are named by ``module``/``class`` in ``dagster.yaml``
(:func:`lairs_etl.dagster.instance.instance_yaml` with ``pooled=True``), Dagster's public
extension point for instance storage; nothing else changes, and the default
``storage: postgres`` deployment does not need them.

What it costs: each process holding an instance keeps one idle connection open per
storage (run worker, daemon, webserver, code server), which the database's
``max_connections`` must allow for. Disposing of the instance (``with
DagsterInstance…``, as Dagster does with each it opens) closes them; without that they
would wait for Python's cyclic garbage collector, a few dozen at a time in a process that
opens an instance per sensor tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Self

import sqlalchemy
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

# Not in dagster_postgres.__all__, but what its own from_config_value calls; the lowest
# supported dagster-postgres (0.29.0) is tested in CI, so a change there fails a test.
from dagster_postgres.utils import pg_url_from_config

__all__ = ["POOL_MAX_OVERFLOW", "PooledPostgresEventLogStorage", "PooledPostgresRunStorage"]

POOL_MAX_OVERFLOW = 20
"""Connections opened beyond the held one while threads of one process query at once
(a daemon's sensor, schedule and backfill workers share one instance); closed when
returned, so they cost nothing idle. Beyond it a query waits for a connection (30 s,
then fails). Dagster's webserver uses the same 20."""

_POOL_RECYCLE_SECONDS = 3600
_NO_STATEMENT_TIMEOUT = 0


class _PooledEngine:
    """What both storages add: the pooled engine from construction on, closed at dispose.

    The engine is taken from a connection (``connection.engine``, SQLAlchemy's public
    API) through the storage's own public connection method, never from its attributes.
    """

    _pooled: sqlalchemy.Engine | None = None

    def _connection(self) -> AbstractContextManager[sqlalchemy.Connection]:
        raise NotImplementedError

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Self:
        """Dagster's construction from ``dagster.yaml``, then the pooled engine."""
        build: Callable[..., Self] = cls
        storage = build(**_arguments(inst_data, config_value))
        storage.optimize_for_webserver(_NO_STATEMENT_TIMEOUT, _POOL_RECYCLE_SECONDS, POOL_MAX_OVERFLOW)
        return storage

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        """Dagster's pooled engine (the webserver calls this again with its own limits)."""
        _release(self._pooled)
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)  # type: ignore[misc]
        with self._connection() as connection:  # the engine now in use, to close at dispose
            self._pooled = connection.engine

    def dispose(self) -> None:
        """Dagster's, then the pool's connections closed."""
        super().dispose()  # type: ignore[misc]
        _release(self._pooled)


class PooledPostgresEventLogStorage(_PooledEngine, PostgresEventLogStorage):
    """Dagster's Postgres event log, on a pooled engine (the hot path of a run).

    Table existence is remembered once seen: every asset event asks whether the tags
    table exists *while holding* the write's connection, so the question would take a
    second, overflow connection (opened and closed each time) and undo the pool. A table
    that exists stays; one that does not is asked again, as Dagster does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tables_seen: set[str] = set()
        super().__init__(*args, **kwargs)

    def _connection(self) -> AbstractContextManager[sqlalchemy.Connection]:
        return self.index_connection()

    def has_table(self, table_name: str) -> bool:
        """Whether the table exists; asked of the database until it does."""
        if table_name in self._tables_seen:
            return True
        exists = super().has_table(table_name)
        if exists:
            self._tables_seen.add(table_name)
        return exists


class PooledPostgresRunStorage(_PooledEngine, PostgresRunStorage):
    """Dagster's Postgres run storage, on a pooled engine (run tags, status, pool slots)."""

    def _connection(self) -> AbstractContextManager[sqlalchemy.Connection]:
        return self.connect()


def _release(engine: sqlalchemy.Engine | None) -> None:
    """Close the pool's idle connections; the engine stays usable (it reconnects on use)."""
    if engine is not None:
        engine.dispose()


def _arguments(inst_data: Any, config_value: Mapping[str, Any]) -> dict[str, Any]:
    """What ``dagster-postgres``'s own ``from_config_value`` passes its class.

    The token provider (cloud IAM authentication) came in a later ``dagster-postgres``
    than the lowest this project supports, so it is passed only when configured.
    """
    arguments: dict[str, Any] = {
        "inst_data": inst_data,
        "postgres_url": pg_url_from_config(config_value),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
    }
    if config_value.get("auth_provider") is not None:
        from dagster_postgres.utils import get_token_provider_from_config  # newer releases only

        arguments["token_provider"] = get_token_provider_from_config(config_value)
    return arguments
