"""The refresh schedule: a full consistency pass over every actor x collection.

No ``from __future__ import annotations``: Dagster reads the annotations at definition time.
"""

from collections.abc import Sequence

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from lairs_etl.dagster.constants import ACTORS_PARTITIONS, REFRESH_JOB
from lairs_etl.dagster.partitions import PartitionLayout

__all__ = ["build_refresh_schedule"]

DEFAULT_CRON = "0 3 * * *"
DEFAULT_NAME = "lairs_refresh"


def build_refresh_schedule(
    *,
    collections: Sequence[str],
    asset_keys: Sequence[AssetKey],
    cron_schedule: str = DEFAULT_CRON,
    name: str = DEFAULT_NAME,
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
    job_name: str | None = None,
    actor_shards: int | None = None,
) -> ScheduleDefinition:
    """Every ``cron_schedule`` (daily by default), refresh everything, then snapshot.

    The schedule runs a named job over ``asset_keys`` (``job_name``; by default
    :data:`~lairs_etl.dagster.constants.REFRESH_JOB` for the default schedule, else
    ``<name>_job``, so several schedules can live in one code location): in the UI its
    runs open on that job's page and can be re-executed. With ``actor_shards`` the run
    covers every shard x collection (each shard's registered actors).
    """
    layout = PartitionLayout(tuple(collections), actor_shards)
    job = define_asset_job(
        job_name or (REFRESH_JOB if name == DEFAULT_NAME else f"{name}_job"),
        selection=list(asset_keys),
        description="Refresh every actor x collection partition in one run (fetch, validate, "
        "commit, lake), then the snapshot and the warehouse. The refresh schedule runs it.",
    )

    @schedule(
        name=name,
        cron_schedule=cron_schedule,
        job=job,
        default_status=default_status,
        execution_timezone="UTC",
        description="A full consistency pass over every tracked actor and collection, "
        "then a new snapshot (tagged when refresh.snapshot_tag_prefix is set) and the warehouse.",
    )
    def _refresh(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        actors = context.instance.get_dynamic_partitions(ACTORS_PARTITIONS)
        if not actors:
            return SkipReason("no actor partitions yet")
        stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else None
        primaries = layout.primaries(actors)
        first, last = (primaries[0], collections[0]), (primaries[-1], collections[-1])
        return layout.range_request(first, last, asset_keys, run_key=stamp, job_name=job.name)

    return _refresh
