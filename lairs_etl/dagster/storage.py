"""SQLite event-log storage that writes a step's partition events in one transaction.

A refresh over N actor x collection partitions stores 4·N materialization events. Dagster's
``SqliteEventLogStorage`` stores each one on its own: a new SQLAlchemy engine and
connection for the run's shard, then another for the index shard, table reflection,
and an ``asset_keys`` upsert that serializes the event a second time. That is 10 ms or
more per event whatever the partition holds, which made storage most of a small
refresh's wall time (``bench/dagster_refresh.py``).

Dagster already hands storage the partition events of one output as a batch when
``DAGSTER_EVENT_BATCH_SIZE`` is positive; the SQLite class just loops. This subclass
writes such a batch as one transaction per shard and upserts each asset key once, with
its last event, which leaves the same rows as the loop. It also keeps one engine per
shard instead of building and disposing one per statement. Dagster reads the batch
size from the environment only, so ``event_batch_size`` in ``dagster.yaml`` sets that
variable when it is unset.

:class:`BatchingSqliteStorage` is Dagster's ``storage: sqlite`` (same ``base_dir``, same
files, so an existing ``DAGSTER_HOME`` carries on) with this event log; Dagster accepts a
whole storage or three separate ones, and only the whole one can place all three under
``{env: DAGSTER_HOME}``. :func:`instance_yaml` is the ``dagster.yaml`` the project,
the demo and the tests use.

Everything else (queries, run-status events, checks, migrations) is the parent's;
``dagster==1.13.27`` is pinned and the end-to-end tests read the events back.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import yaml
from dagster import Field
from dagster._config.config_schema import UserConfigSchema
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils import mkdir_p
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

__all__ = ["BATCH_SIZE_ENV", "BatchingSqliteEventLogStorage", "BatchingSqliteStorage", "instance_yaml"]

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
_DEFAULT_BATCH_SIZE = 1000
_ENGINES_KEPT = 32
_BATCHED = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_OBSERVATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    }
)


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with batched partition events and reused engines.

    Usually built by :class:`BatchingSqliteStorage`; as a separate ``event_log_storage``
    its ``base_dir`` is the directory of the shards themselves.
    """

    def __init__(
        self,
        base_dir: str,
        inst_data: ConfigurableClassData | None = None,
        event_batch_size: int = _DEFAULT_BATCH_SIZE,
    ) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        if event_batch_size > 0:
            os.environ.setdefault(BATCH_SIZE_ENV, str(event_batch_size))
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        """The parent's ``base_dir`` plus ``event_batch_size`` (0 leaves the variable alone)."""
        return {
            **super().config_type(),  # type: ignore[dict-item]
            "event_batch_size": Field(int, is_required=False, default_value=_DEFAULT_BATCH_SIZE),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingSqliteEventLogStorage:
        """Build this class, not the parent (whose classmethod names itself)."""
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        """One engine per shard, the least recently used dropped past a bound.

        ``NullPool`` engines hold no connection between uses, so keeping them holds no
        file open; it saves building one (dialect, event hooks) per statement.
        """
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    create_db_conn_string(self._base_dir, shard),
                    poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
            self._engines[shard] = engine
            while len(self._engines) > _ENGINES_KEPT:
                _, dropped = self._engines.popitem(last=False)
                dropped.dispose()
            return engine

    def has_table(self, table_name: str) -> bool:
        """The parent's check, on the kept engine: it runs once per stored asset event."""
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store a batch with one transaction per shard for each stretch of asset events.

        Batches are one output's partition events, or a run's planned events.

        Other events in the batch (planned checks, say) go through :meth:`store_event`
        in their place, exactly as the parent would store them.
        """
        stretch: list[EventLogEntry] = []
        for event in events:
            if stretch and (not _batchable(event) or event.run_id != stretch[0].run_id):
                self._store_asset_events(stretch)
                stretch = []
            if _batchable(event):
                stretch.append(event)
            else:
                self.store_event(event)
        if stretch:
            self._store_asset_events(stretch)

    def _store_asset_events(self, events: Sequence[EventLogEntry]) -> None:
        if len(events) == 1:
            self.store_event(events[0])
            return
        # One parameterized statement for all rows: SQLAlchemy compiles it once, where
        # the parent builds (and cache-keys) a statement with inlined values per event.
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
            event_ids = [int(row[0]) for row in inserted]
            self._store_asset_event_tags(conn, events, event_ids)
            # The parent upserts the asset key row once per event, each overwriting the
            # last; writing only each key's last event leaves the same row.
            last: dict[str, tuple[EventLogEntry, int]] = {}
            for event, event_id in zip(events, event_ids, strict=True):
                key = event.get_dagster_event().asset_key
                if key is not None:
                    last[key.to_string()] = (event, event_id)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)


def _batchable(event: EventLogEntry) -> bool:
    """Whether the parent would store ``event`` only as rows, tags and an asset-key row.

    Those are asset events with a key: no check or run-status side effects.
    """
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type in _BATCHED
        and dagster_event.asset_key is not None
    )


class BatchingSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, schedules) with :class:`BatchingSqliteEventLogStorage`.

    ``dagster.yaml``::

        storage:
          custom:
            module: lairs_etl.dagster.storage
            class: BatchingSqliteStorage
            config:
              base_dir: {env: DAGSTER_HOME}
              event_batch_size: 1000
    """

    def __init__(
        self,
        base_dir: str,
        inst_data: ConfigurableClassData | None = None,
        event_batch_size: int = _DEFAULT_BATCH_SIZE,
    ) -> None:
        # The parent's body with the event log swapped; calling it would build (and
        # initialise) a second event-log storage on the same files first.
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = BatchingSqliteEventLogStorage(
            _event_logs_directory(base_dir), event_batch_size=event_batch_size
        )
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # type: ignore[no-untyped-call]

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        """The parent's ``base_dir`` plus ``event_batch_size``."""
        return BatchingSqliteEventLogStorage.config_type()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingSqliteStorage:
        """Build this class, not the parent (whose classmethod names itself)."""
        mkdir_p(config_value["base_dir"])
        return cls(inst_data=inst_data, **config_value)


def instance_yaml(base_dir: str | None = None, *, event_batch_size: int = _DEFAULT_BATCH_SIZE) -> str:
    """A ``dagster.yaml`` with this storage under ``base_dir`` and telemetry off.

    Without ``base_dir`` the storage follows ``$DAGSTER_HOME`` (which must then be set,
    as for ``dagster dev``); with it, the file also works from ``DagsterInstance.from_config``.
    """
    config = {
        "storage": {
            "custom": {
                "module": __name__,
                "class": BatchingSqliteStorage.__name__,
                "config": {
                    "base_dir": {"env": "DAGSTER_HOME"} if base_dir is None else base_dir,
                    "event_batch_size": event_batch_size,
                },
            }
        },
        "telemetry": {"enabled": False},
    }
    return str(yaml.safe_dump(config, sort_keys=False))
