"""The lake's maintenance job and schedule: compaction and snapshot expiry, nightly.

A scheduled refresh adds a snapshot to every table it changes, and readers and writers
pay for each one kept (see :class:`~lairs_etl.dagster.settings.MaintenanceSettings`).
The op is what ``lairs-etl lake compact`` and ``lairs-etl lake expire --older-than``
run, on the deployment's lake resource; both are safe beside running refreshes and
readers (:mod:`lairs_etl.views.maintenance`).

No ``from __future__ import annotations``: Dagster reads the op's annotations.
"""

import datetime as dt
from collections.abc import Callable

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from lairs_etl.dagster.constants import MAINTENANCE_JOB
from lairs_etl.dagster.resource import LakeResource

__all__ = ["build_maintenance_job", "build_maintenance_schedule"]

SCHEDULE_NAME = "lairs_lake_maintenance"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_maintenance_job(
    *,
    expire_older_than: str | None,
    compact: bool,
    clock: Callable[[], dt.datetime] = _utc_now,
) -> JobDefinition:
    """A job of one op: compact (``compact``), then expire what is older than ``expire_older_than``.

    ``clock`` is when "now" is for the age (injected by tests).
    """

    @op(
        name="lairs_lake_maintenance",
        description="Merge each lake table's manifests, then expire the snapshots no tag holds "
        "older than the retention and delete the files nothing references.",
    )
    def _maintain(context: OpExecutionContext, lake: LakeResource) -> Output[None]:
        from lairs_etl.views.maintenance import compact_lake, expire_lake
        from lairs_etl.views.retention import parse_age

        metadata: dict[str, MetadataValue] = {}
        if compact:
            merged = compact_lake(lake.url, lake.options())
            metadata["tables_compacted"] = MetadataValue.int(merged.tables_compacted)
            metadata["manifests_before"] = MetadataValue.int(merged.manifests_before)
            metadata["manifests_after"] = MetadataValue.int(merged.manifests_after)
        if expire_older_than is not None:
            cutoff = parse_age(expire_older_than, clock())
            expired = expire_lake(lake.url, cutoff, lake.options())
            metadata["expired_before"] = MetadataValue.text(cutoff.isoformat())
            metadata["snapshots_expired"] = MetadataValue.int(expired.snapshots_expired)
            metadata["files_removed"] = MetadataValue.int(expired.files_removed)
            metadata["bytes_removed"] = MetadataValue.int(expired.bytes_removed)
        context.log.info(
            "lake maintenance: " + ", ".join(f"{k}={v.value}" for k, v in metadata.items())
        )
        return Output(None, metadata=metadata)

    @job(
        name=MAINTENANCE_JOB,
        description="Keep the lake's Iceberg tables lean: the maintenance schedule runs it nightly.",
    )
    def _job() -> None:
        _maintain()

    return _job


def build_maintenance_schedule(
    maintenance_job: JobDefinition,
    *,
    cron_schedule: str,
    default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
) -> ScheduleDefinition:
    """Run ``maintenance_job`` every ``cron_schedule`` (UTC)."""
    return ScheduleDefinition(
        name=SCHEDULE_NAME,
        job=maintenance_job,
        cron_schedule=cron_schedule,
        default_status=default_status,
        execution_timezone="UTC",
        description="Compact the lake's tables and expire old snapshots no tag holds.",
    )
