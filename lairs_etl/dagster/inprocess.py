"""Driving a code location in-process: tick a sensor, evaluate the schedule, execute runs.

What the daemon does in a deployment, done synchronously against a (persistent)
instance: used by ``lairs-etl demo``, the end-to-end tests and the benchmarks, so all
three exercise the very sensors, schedule and assets a deployment runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from dagster import (
    AddDynamicPartitionsRequest,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from lairs_etl.errors import ConfigError

__all__ = ["SensorTick", "execute_run_request", "schedule_run_requests", "tick_sensor"]


@dataclass(frozen=True, slots=True)
class SensorTick:
    """A sensor evaluation: its run requests, the partitions it added, its new cursor."""

    run_requests: tuple[RunRequest, ...] = ()
    added: tuple[str, ...] = ()
    cursor: str | None = None
    skip_reason: str | None = None
    log: tuple[str, ...] = field(default=())


def tick_sensor(
    defs: Definitions, name: str, instance: DagsterInstance, cursor: str | None = None
) -> SensorTick:
    """Evaluate sensor ``name`` once and apply its dynamic-partition requests to ``instance``."""
    sensor_def = defs.resolve_sensor_def(name)
    with build_sensor_context(
        instance=instance, cursor=cursor, sensor_name=name, resources=defs.resources, definitions=defs
    ) as context:
        data = sensor_def.evaluate_tick(context)
    added: list[str] = []
    for request in data.dynamic_partitions_requests or ():
        if isinstance(request, AddDynamicPartitionsRequest):
            name_ = request.partitions_def_name
            new = [k for k in request.partition_keys if not instance.has_dynamic_partition(name_, k)]
            instance.add_dynamic_partitions(name_, new)
            added.extend(new)
    skip = data.skip_message
    return SensorTick(tuple(data.run_requests or ()), tuple(added), data.cursor, skip)


def schedule_run_requests(
    defs: Definitions, name: str, instance: DagsterInstance, when: dt.datetime | None = None
) -> Sequence[RunRequest]:
    """The run requests schedule ``name`` makes at ``when`` (default now)."""
    schedule_def = defs.resolve_schedule_def(name)
    at = when or dt.datetime.now(dt.UTC)
    with build_schedule_context(
        instance=instance, scheduled_execution_time=at, resources=defs.resources
    ) as ctx:
        data = schedule_def.evaluate_tick(ctx)
    return list(data.run_requests or ())


def execute_run_request(
    defs: Definitions,
    request: RunRequest,
    instance: DagsterInstance,
    *,
    raise_on_error: bool = False,
    log_level: str | None = None,
) -> ExecuteInProcessResult:
    """Execute a sensor's or schedule's run request in-process, as the daemon would launch it.

    A request naming a job runs as that job (the run is the job's in the UI, so it can be
    re-executed there); one with only an asset selection, as an ad-hoc materialization.
    ``log_level`` (e.g. ``WARNING``) quiets the run's console logger.

    Raises:
        ConfigError: the request names neither a job nor assets.
    """
    run_config = None if log_level is None else {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if request.job_name is not None:
        job = defs.resolve_job_def(request.job_name)
        return job.execute_in_process(
            instance=instance,
            tags=dict(request.tags),
            raise_on_error=raise_on_error,
            run_config=run_config,
            asset_selection=list(request.asset_selection) if request.asset_selection else None,
        )
    if not request.asset_selection:
        raise ConfigError("run request names neither a job nor assets")
    return materialize(
        [a for a in defs.assets or () if isinstance(a, AssetsDefinition)],
        selection=list(request.asset_selection),
        tags=dict(request.tags),
        resources=dict(defs.resources or {}),
        instance=instance,
        raise_on_error=raise_on_error,
        run_config=run_config,
    )
