"""``build_definitions``: the whole code location from :class:`LairsSettings`.

No ``from __future__ import annotations``: Dagster reads annotations at definition time.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    SensorDefinition,
)
from pydantic import BaseModel

from lairs_etl.dagster.asset_decorator import build_layers_asset_specs, layers_assets, snapshot_asset
from lairs_etl.dagster.downstream import published_asset, warehouse_asset
from lairs_etl.dagster.firehose import build_firehose_sensor, firehose_asset, firehose_job
from lairs_etl.dagster.maintenance import build_maintenance_job, build_maintenance_schedule
from lairs_etl.dagster.media import media_asset
from lairs_etl.dagster.partitions import tracked_collections
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.schedule import build_refresh_schedule
from lairs_etl.dagster.sensors import build_change_sensor, build_discovery_sensor
from lairs_etl.dagster.settings import LairsSettings, env_or_value
from lairs_etl.dagster.translator import LayersTranslator
from lairs_etl.sync.corpus import ClosureLimits
from lairs_etl.sync.media import MediaPolicy

__all__ = ["build_definitions", "build_resources", "definitions_from_file"]


def build_resources(settings: LairsSettings) -> dict[str, object]:
    """The three resources, ``${VAR}`` values turned into ``EnvVar``."""
    return {
        "atproto": AtprotoResource(**_fields(settings.atproto)),
        "repository": RepositoryResource(**_fields(settings.repository)),
        "lake": LakeResource(**_fields(settings.lake)),
    }


def build_definitions(
    settings: LairsSettings,
    *,
    translator: LayersTranslator | None = None,
    extra_assets: Sequence[AssetsDefinition] = (),
) -> Definitions:
    """Assets, checks, sensors, schedules and resources for one deployment.

    The refresh schedule refreshes every partition, then the snapshot and the warehouse;
    the maintenance schedule compacts the lake and expires its old snapshots;
    ``layers/published`` (per actor) runs only when launched, as a dry run unless its
    run config says ``apply: true``.

    Raises:
        ConfigError: a tracked collection is not a Layers record type.
    """
    collections = tracked_collections(settings.collections)
    refresh = settings.refresh
    partitioned = layers_assets(
        collections=collections,
        translator=translator,
        fetch_mode=refresh.fetch_mode,
        invalid_rate_threshold=refresh.invalid_rate_threshold,
        workers=refresh.workers,
        actor_shards=refresh.actor_shards,
    )
    snapshot = snapshot_asset(translator=translator, tag_prefix=refresh.snapshot_tag_prefix)
    warehouse = warehouse_asset(translator=translator, db_path=refresh.warehouse_path)
    published = published_asset(translator=translator)
    media = settings.media
    fetched_media = (
        [
            media_asset(
                policy=MediaPolicy(max_bytes=media.max_bytes, mime=tuple(media.mime)), translator=translator
            )
        ]
        if media.fetch
        else []
    )
    stage_keys = [spec.key for spec in build_layers_asset_specs(translator).values()]
    running = refresh.sensors_running
    sensor_status = DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED
    schedule_status = DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED
    hose = settings.firehose
    upkeep = settings.maintenance
    maintained = upkeep.compact or upkeep.expire_older_than is not None  # both off: no job at all
    maintenance_jobs = (
        [build_maintenance_job(expire_older_than=upkeep.expire_older_than, compact=upkeep.compact)]
        if maintained
        else []
    )
    following: list[AssetsDefinition] = []
    firehose_sensors: list[SensorDefinition] = []
    if hose.follow:
        following.append(
            firehose_asset(
                relay_url=hose.relay_url,
                seconds_per_run=hose.seconds_per_run,
                batch_seconds=hose.batch_seconds,
                discover=hose.discover,
                collections=collections,
                fetch_mode=refresh.fetch_mode,
                translator=translator,
            )
        )
        firehose_sensors.append(
            build_firehose_sensor(
                firehose_job(translator),
                minimum_interval_seconds=hose.interval_seconds,
                default_status=sensor_status,
            )
        )
    return Definitions(
        assets=[partitioned, snapshot, warehouse, published, *fetched_media, *following, *extra_assets],
        sensors=[
            *firehose_sensors,
            build_discovery_sensor(
                collections=collections,
                seeds=settings.discovery.seeds,
                pds_hosts=settings.discovery.pds_hosts,
                use_relay=settings.discovery.use_relay,
                corpora=settings.corpora,
                closure=ClosureLimits(**settings.discovery.closure.model_dump()),
                default_status=sensor_status,
                minimum_interval_seconds=settings.discovery.interval_seconds,
            ),
            build_change_sensor(
                collections=collections,
                asset_keys=stage_keys,
                pds_hosts=settings.discovery.pds_hosts,
                max_runs_per_tick=refresh.max_runs_per_tick,
                default_status=sensor_status,
                minimum_interval_seconds=refresh.change_interval_seconds,
                actor_shards=refresh.actor_shards,
            ),
        ],
        schedules=[
            build_refresh_schedule(
                collections=collections,
                asset_keys=[*stage_keys, *snapshot.keys, *warehouse.keys],
                cron_schedule=refresh.cron,
                default_status=schedule_status,
                actor_shards=refresh.actor_shards,
            ),
            *(
                build_maintenance_schedule(job, cron_schedule=upkeep.cron, default_status=schedule_status)
                for job in maintenance_jobs
            ),
        ],
        jobs=maintenance_jobs,
        resources=build_resources(settings),
    )


def definitions_from_file(path: str | Path) -> Definitions:
    """:func:`build_definitions` from a ``lairs.yaml``.

    Raises:
        ConfigError: the file is missing or invalid.
    """
    return build_definitions(LairsSettings.from_yaml(path))


def _fields(section: BaseModel) -> dict[str, Any]:
    """A settings section as its resource's arguments (the same fields), ``${VAR}`` as ``EnvVar``."""
    return {k: env_or_value(v) for k, v in section.model_dump(exclude_none=True).items()}
