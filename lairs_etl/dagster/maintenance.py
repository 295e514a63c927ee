"""The lake's maintenance job and schedule: snapshot expiry and compaction, nightly.

A scheduled refresh adds a snapshot to every table it changes, and readers and writers
pay for each one kept (see :class:`~lairs_etl.dagster.settings.MaintenanceSettings`).
The op is what ``lairs-etl lake expire --older-than`` and ``lairs-etl lake compact``
run, on the deployment's lake resource and catalog. Expiry comes first: every table's
current snapshot survives it, and that is the snapshot a warehouse built since the last
refresh reads; compaction then makes a new current snapshot, and the merged-away
manifests go with the next night's expiry, after the refresh has rebuilt the warehouse.
(Compacting first, the snapshot the warehouse reads would no longer be current and
would expire the same night.)

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

from lairs_etl.dagster import constants as c
from lairs_etl.dagster.constants import MAINTENANCE_JOB
from lairs_etl.dagster.resource import LakeResource

__all__ = ["SCHEDULE_NAME", "build_maintenance_job", "build_maintenance_schedule"]

SCHEDULE_NAME = "lairs_lake_maintenance"
"""The maintenance schedule's name (its job: :data:`~lairs_etl.dagster.constants.MAINTENANCE_JOB`)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_EXPIRY_KEYS = (c.META_EXPIRED_BEFORE, c.META_SNAPSHOTS_EXPIRED, c.META_FILES_REMOVED, c.META_BYTES_REMOVED)
_COMPACTION_KEYS = (c.META_TABLES_COMPACTED, c.META_MANIFESTS_BEFORE, c.META_MANIFESTS_AFTER)


def build_maintenance_job(
    *,
    expire_older_than: str | None,
    compact: bool,
    clock: Callable[[], dt.datetime] = _utc_now,
) -> JobDefinition:
    """A job of one op: expire what is older than ``expire_older_than``, then compact (``compact``).

    ``clock`` is when "now" is for the age (injected by tests).
    """
    keys = (_EXPIRY_KEYS if expire_older_than is not None else ()) + (_COMPACTION_KEYS if compact else ())
    explained = "\n".join(f"- `{key}`: {c.METADATA_DESCRIPTIONS[key]}" for key in keys)

    @op(
        name="lairs_lake_maintenance",
        description="Expire the lake's snapshots no tag holds older than the retention and delete "
        "the files nothing references, then merge each table's manifests. Output metadata:\n" + explained,
    )
    def _maintain(context: OpExecutionContext, lake: LakeResource) -> Output[None]:
        from lairs_etl.views.maintenance import compact_lake, expire_lake
        from lairs_etl.views.retention import parse_age

        choice, options = lake.catalog_choice(), lake.options()
        metadata: dict[str, MetadataValue] = {}
        if expire_older_than is not None:
            cutoff = parse_age(expire_older_than, clock())
            expired = expire_lake(lake.url, cutoff, options, catalog=choice)
            metadata[c.META_EXPIRED_BEFORE] = MetadataValue.timestamp(cutoff)
            metadata[c.META_SNAPSHOTS_EXPIRED] = MetadataValue.int(expired.snapshots_expired)
            metadata[c.META_FILES_REMOVED] = MetadataValue.int(expired.files_removed)
            metadata[c.META_BYTES_REMOVED] = MetadataValue.int(expired.bytes_removed)
        if compact:
            merged = compact_lake(lake.url, options, catalog=choice)
            metadata[c.META_TABLES_COMPACTED] = MetadataValue.int(merged.tables_compacted)
            metadata[c.META_MANIFESTS_BEFORE] = MetadataValue.int(merged.manifests_before)
            metadata[c.META_MANIFESTS_AFTER] = MetadataValue.int(merged.manifests_after)
        context.log.info("lake maintenance: " + ", ".join(f"{k}={v.value}" for k, v in metadata.items()))
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
        description="Expire the lake's old snapshots no tag holds, then compact its tables.",
    )
