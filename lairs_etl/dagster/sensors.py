"""The discovery and change sensors (thin wrappers over :mod:`.discovery`, :mod:`.changes`).

No ``from __future__ import annotations`` here: Dagster reads the sensor functions'
annotations at definition time to inject resources.
"""

import json
from collections.abc import Sequence

from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from lairs_etl.dagster.constants import ACTORS_PARTITIONS, PARTITIONS_JOB, PDS_HOST_TAG
from lairs_etl.dagster.partitions import range_request
from lairs_etl.dagster.resource import AtprotoResource, RepositoryResource
from lairs_etl.sync.changes import ChangeState, detect_changes
from lairs_etl.sync.discovery import discover

__all__ = ["actor_run_request", "build_change_sensor", "build_discovery_sensor"]

CHANGES_NAME = "lairs_changes"


def actor_run_request(
    did: str,
    collections: Sequence[str],
    keys: Sequence[AssetKey],
    *,
    run_key: str | None,
    host: str | None = None,
    job_name: str | None = None,
) -> RunRequest:
    """One run refreshing every tracked collection of ``did`` (a partition range)."""
    tags = {} if host is None else {PDS_HOST_TAG: host.split("://", 1)[-1].rstrip("/")}
    first, last = (did, collections[0]), (did, collections[-1])
    return range_request(first, last, keys, run_key=run_key, job_name=job_name, tags=tags)


def build_discovery_sensor(
    *,
    collections: Sequence[str],
    seeds: Sequence[str] = (),
    pds_hosts: Sequence[str] = (),
    use_relay: bool = False,
    name: str = "lairs_discovery",
    minimum_interval_seconds: int = 3600,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """Adds actor partitions found from seeds, PDS hosts and (``use_relay``) the relay."""

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Finds actors with Layers records (seeds, PDS hosts' listRepos, the relay) and "
        "adds them as actor partitions; deactivated or deleted accounts are reported in the log.",
    )
    def _discovery(context: SensorEvaluationContext, atproto: AtprotoResource) -> SensorResult:
        known = set(context.instance.get_dynamic_partitions(ACTORS_PARTITIONS))
        previous = json.loads(context.cursor) if context.cursor else {}
        with atproto.client() as client:
            found = discover(
                client=client,
                resolver=atproto.resolver(client),
                collections=collections,
                known=known,
                seeds=seeds,
                pds_hosts=pds_hosts,
                relay_url=atproto.relay_url if use_relay else None,
                skipped=previous.get("skipped", {}),
            )
        for did, where in sorted(found.found.items()):
            context.log.info(f"discovered {did} ({where})")
        for did, status in sorted(found.inactive.items()):
            tracked = "tracked" if did in known else "untracked"
            context.log.warning(f"{tracked} actor {did} is {status} on its PDS")
        for error in found.errors:
            context.log.warning(error)
        cursor = json.dumps({"skipped": found.skipped, "inactive": found.inactive}, separators=(",", ":"))
        requests = (
            [AddDynamicPartitionsRequest(ACTORS_PARTITIONS, sorted(found.found))] if found.found else []
        )
        return SensorResult(dynamic_partitions_requests=requests, cursor=cursor)

    return _discovery


def build_change_sensor(
    *,
    collections: Sequence[str],
    asset_keys: Sequence[AssetKey],
    pds_hosts: Sequence[str] = (),
    name: str = CHANGES_NAME,
    minimum_interval_seconds: int = 300,
    max_runs_per_tick: int = 500,
    max_resolutions_per_tick: int = 100,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    job_name: str | None = None,
) -> SensorDefinition:
    """Requests a run per actor whose PDS rev moved since it was last refreshed.

    Each is a run of a named job over ``asset_keys`` (one actor's partition range),
    tagged with the actor's PDS host: ``job_name``, by default
    :data:`~lairs_etl.dagster.constants.PARTITIONS_JOB` for the default sensor, else
    ``<name>_job``.
    """
    job = define_asset_job(
        job_name or (PARTITIONS_JOB if name == CHANGES_NAME else f"{name}_job"),
        selection=list(asset_keys),
        description="Refresh the partitions of the selected range (fetch, validate, commit, lake). "
        "The change sensor runs it per changed actor.",
    )

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        job=job,
        description="Polls each PDS host's listRepos (one call per 1,000 actors) and requests a "
        "refresh of every tracked actor whose repository rev moved since its last commit.",
    )
    def _changes(
        context: SensorEvaluationContext, atproto: AtprotoResource, repository: RepositoryResource
    ) -> SensorResult | SkipReason:
        registered = context.instance.get_dynamic_partitions(ACTORS_PARTITIONS)
        if not registered:
            return SkipReason("no actor partitions yet: run the discovery sensor first")

        def baseline() -> dict[str, str | None]:
            repo = repository.open()
            if repo.head() is None:
                return {}
            return {str(did): state.pds_rev for did, state in repo.actors().items()}

        with atproto.client() as client:
            tick = detect_changes(
                registered,
                client=client,
                resolver=atproto.resolver(client),
                pds_hosts=pds_hosts,
                state=ChangeState.loads(context.cursor),
                baseline=baseline,
                max_runs=max_runs_per_tick,
                max_resolutions=max_resolutions_per_tick,
            )
        for did, status in sorted(tick.inactive.items()):
            context.log.warning(f"tracked actor {did} is {status} on its PDS")
        for error in tick.errors:
            context.log.warning(error)
        runs = [
            actor_run_request(
                c.did,
                collections,
                asset_keys,
                run_key=f"{c.did}@{c.rev}",
                host=c.host,
                job_name=job.name,
            )
            for c in tick.changed
        ]
        context.log.info(f"{len(runs)} of {len(registered)} actors changed ({tick.requests} requests)")
        return SensorResult(run_requests=runs, cursor=tick.state.dumps())

    return _changes
