"""``layers/firehose``: the verified firehose, one bounded window per run, kept going by a sensor.

Why a job and not work inside the sensor: a sensor tick runs in the daemon, serially with
the other sensors, under a short evaluation timeout, and what it does leaves no asset
event, log or retry behind. Following the firehose commits to the repository and writes
the lake, which is a run's work. So the sensor's only job is to keep exactly one run of
:data:`~lairs_etl.dagster.constants.FIREHOSE_JOB` going (it requests one when none is
queued or running), and each run follows the stream for ``seconds_per_run`` seconds
(:func:`lairs_etl.sync.follow.follow`), then records what it did as the asset's
metadata: frames, commits and ops applied, refusals by reason, re-synced and
discovered actors, the lag of the last commit, the cursor and the actors still owed a
re-sync. A run whose actors failed still materializes (status ``failed``): the cursor
moves on and those actors are owed to the next run.

The cursor is read back from the asset's latest materialization: a run resumes after
the seq its predecessor reached. A run that dies midway leaves the old cursor, so the
next one re-reads what the dead one had applied; those commits are at or before the
revs the repository holds and are skipped as stale, so nothing is applied twice.
Actors discovered on the stream are added to the actor partitions.

No ``from __future__ import annotations``: Dagster reads annotations at definition time.
"""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    Failure,
    JobDefinition,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    multi_asset,
    sensor,
)

from lairs_etl.atproto.fetch import FetchMode
from lairs_etl.dagster import constants as c
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator
from lairs_etl.sync import SyncOptions

__all__ = ["build_firehose_sensor", "firehose_asset", "firehose_job"]

_ACTIVE = [
    DagsterRunStatus.CANCELING,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def firehose_asset(  # the deployment's settings, each needed
    *,
    relay_url: str | None,
    seconds_per_run: float = 55.0,
    batch_seconds: float = 0.5,
    discover: bool = False,
    collections: Sequence[str] | None = None,
    fetch_mode: FetchMode = "auto",
    translator: LayersTranslator | None = None,
) -> AssetsDefinition:
    """``layers/firehose`` (see the module docstring), following ``relay_url``.

    ``relay_url`` None: the ``atproto`` resource's ``relay_url``. ``collections`` and
    ``fetch_mode`` are the deployment's, as the partitioned assets use them, so the
    firehose and the refreshes build the same repository.
    """
    options = SyncOptions(
        tracked=tuple(collections) if collections else None,
        fetch_mode=fetch_mode,
        author="lairs-etl firehose",
    )
    chosen = translator or LayersTranslator()
    spec = chosen.get_asset_spec(LayersAssetData("firehose", partitioned=False))

    @multi_asset(name="layers_firehose", specs=[spec])
    def _firehose(
        context: AssetExecutionContext,
        atproto: AtprotoResource,
        repository: RepositoryResource,
        lake: LakeResource,
    ) -> MaterializeResult[Any]:
        from lairs_etl.sync import LakeTarget
        from lairs_etl.sync.follow import FollowOptions, follow

        service = relay_url or atproto.relay_url
        if not service:
            raise Failure(description="no relay to follow: set firehose.relay_url or atproto.relay_url")
        cursor, owed = _last_position(context, spec.key)
        context.log.info(f"following {service} for {seconds_per_run:g} s from cursor {cursor}")
        repo = repository.open()
        target = LakeTarget(lake.url, lake.options(), lake.catalog_choice())
        with atproto.client() as client:
            report = follow(
                service,
                repository=repo,
                resolver=atproto.resolver(client),
                client=client,
                lake=target,
                options=options,
                follow_options=FollowOptions(flush_seconds=batch_seconds, discover=discover),
                cursor=cursor,
                owed=owed,
                seconds=seconds_per_run,
                allow_private_hosts=atproto.allow_private_hosts,
            )
        for rejection in report.rejections:
            context.log.warning(f"refused seq {rejection.seq} of {rejection.did}: {rejection.error}")
        if report.discovered:
            context.instance.add_dynamic_partitions(c.ACTORS_PARTITIONS, sorted(set(report.discovered)))
        summary = report.to_json()
        metadata: dict[str, Any] = {
            c.META_STATUS: "ok" if report.ok else "failed",
            c.META_FRAMES: MetadataValue.int(report.frames),
            c.META_COMMITS_APPLIED: MetadataValue.int(report.commits),
            c.META_OPS_APPLIED: MetadataValue.int(report.ops),
            c.META_REJECTED: MetadataValue.int(sum(report.rejected.values())),
            c.META_REJECTED_BY_REASON: MetadataValue.json(dict(sorted(report.rejected.items()))),
            c.META_STALE: MetadataValue.int(report.stale),
            c.META_RESYNCED: MetadataValue.int(len(set(report.resynced))),
            c.META_DISCOVERED: MetadataValue.int(len(set(report.discovered))),
            c.META_CURSOR: MetadataValue.int(report.cursor) if report.cursor is not None else None,
            c.META_LAG_SECONDS: MetadataValue.float(report.lag_seconds)
            if report.lag_seconds is not None
            else None,
            c.META_OWED: MetadataValue.json(report.owed),
            c.META_FAILED_ACTORS: MetadataValue.int(report.failures),
            c.META_COMMIT: summary.get("commit"),
        }
        metadata = {key: value for key, value in metadata.items() if value is not None}
        # Materialized even when actors failed: the cursor moves on, and the actors owed a
        # re-sync travel with it to the next run (raising here would pin the cursor and
        # replay an ever longer backlog behind one unreachable PDS).
        for failed in report.failed:
            context.log.error(
                f"{failed.did or failed.actor} did not land: {failed.error_type}: {failed.error}"
            )
        return MaterializeResult(metadata=metadata)

    return _firehose


def _last_position(context: AssetExecutionContext, key: Any) -> tuple[int | None, list[str]]:
    """The cursor and owed actors the asset's latest materialization recorded."""
    event = context.instance.get_latest_materialization_event(key)
    materialization = None if event is None else event.asset_materialization
    metadata = {} if materialization is None else materialization.metadata
    cursor = metadata.get(c.META_CURSOR)
    owed = metadata.get(c.META_OWED)
    position = cursor.value if cursor is not None else None
    owing = owed.value if owed is not None else []
    return (
        position if isinstance(position, int) else None,
        [did for did in owing if isinstance(did, str)] if isinstance(owing, list) else [],
    )


def firehose_job(translator: LayersTranslator | None = None) -> Any:
    """The job materializing ``layers/firehose`` (what the sensor launches)."""
    chosen = translator or LayersTranslator()
    key = chosen.get_asset_spec(LayersAssetData("firehose", partitioned=False)).key
    return define_asset_job(
        c.FIREHOSE_JOB, selection=[key], description="One window of the verified firehose."
    )


def build_firehose_sensor(
    job: JobDefinition | Any,
    *,
    name: str = "lairs_firehose",
    minimum_interval_seconds: int = 30,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """Keeps one run of the firehose job going: requests a run when none is queued or running."""

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Keeps the firehose followed: launches a run of the firehose job (one bounded "
        "window of the verified stream, resuming from the last run's cursor) whenever none is queued "
        "or running.",
    )
    def _firehose(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        active = context.instance.get_runs(
            filters=RunsFilter(job_name=c.FIREHOSE_JOB, statuses=_ACTIVE), limit=1
        )
        if active:
            return SkipReason(f"run {active[0].run_id} is still following the firehose")
        return RunRequest()

    return _firehose
