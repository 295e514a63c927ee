"""The discovery and change sensors (thin wrappers over :mod:`.discovery`, :mod:`.changes`).

No ``from __future__ import annotations`` here: Dagster reads the sensor functions'
annotations at definition time to inject resources.
"""

import hashlib
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

from lairs_etl.dagster.constants import ACTORS_PARTITIONS, ACTORS_TAG, PARTITIONS_JOB, PDS_HOST_TAG
from lairs_etl.dagster.partitions import PartitionLayout, range_request
from lairs_etl.dagster.resource import AtprotoResource, RepositoryResource
from lairs_etl.errors import LairsError, isolated
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.changes import Changed, ChangeState, detect_changes
from lairs_etl.sync.corpus import ClosureLimits
from lairs_etl.sync.discovery import discover

__all__ = ["actor_run_request", "build_change_sensor", "build_discovery_sensor", "shard_run_requests"]

CHANGES_NAME = "lairs_changes"
ACTORS_PER_RUN = 100
"""At most this many actors in one actor-shard run of the change sensor (they share a fetch pool)."""
_TAG_CHARS = 8_000
"""At most this many characters of DIDs in one run's tag (long ``did:web`` DIDs make fewer per run)."""


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
    tags = {} if host is None else {PDS_HOST_TAG: _host_tag(host)}
    first, last = (did, collections[0]), (did, collections[-1])
    return range_request(first, last, keys, run_key=run_key, job_name=job_name, tags=tags)


def shard_run_requests(
    changed: Sequence[Changed],
    layout: PartitionLayout,
    keys: Sequence[AssetKey],
    *,
    job_name: str | None = None,
) -> list[RunRequest]:
    """Runs refreshing the actors that changed, in the actor-shard layout.

    One run per shard and PDS host (so host concurrency limits still apply) of at most
    :data:`ACTORS_PER_RUN` actors (fewer when their DIDs are long), over that shard's
    collections, naming its actors in the :data:`~lairs_etl.dagster.constants.ACTORS_TAG`
    tag so only they are re-fetched.
    The run key hashes the actors' ``did@rev``: the same change never runs twice.
    """
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for change in changed:
        groups.setdefault((layout.primary(change.did), change.host), []).append((change.did, change.rev))
    requests = []
    collections = layout.collections
    for (shard, host), members in sorted(groups.items()):
        for chunk in _chunks(sorted(members)):
            digest = hashlib.sha256(" ".join(f"{d}@{r}" for d, r in chunk).encode()).hexdigest()[:20]
            tags = {ACTORS_TAG: " ".join(d for d, _ in chunk), PDS_HOST_TAG: _host_tag(host)}
            requests.append(
                layout.range_request(
                    (shard, collections[0]),
                    (shard, collections[-1]),
                    keys,
                    run_key=f"shard {shard}@{digest}",
                    job_name=job_name,
                    tags=tags,
                )
            )
    return requests


def _chunks(members: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """``members`` cut into runs of at most :data:`ACTORS_PER_RUN` actors and ``_TAG_CHARS``."""
    chunks: list[list[tuple[str, str]]] = [[]]
    size = 0
    for member in members:
        if chunks[-1] and (len(chunks[-1]) >= ACTORS_PER_RUN or size + len(member[0]) + 1 > _TAG_CHARS):
            chunks.append([])
            size = 0
        chunks[-1].append(member)
        size += len(member[0]) + 1
    return [chunk for chunk in chunks if chunk]


def _host_tag(host: str) -> str:
    return host.split("://", 1)[-1].rstrip("/")


def _open_or_log(context: SensorEvaluationContext, repository: RepositoryResource) -> Repository | None:
    """The repository, or None (corpora then yield their owners only) with the reason logged."""
    opened = isolated(repository.open)
    if isinstance(opened, LairsError):
        context.log.warning(
            f"corpora: cannot open the repository ({opened.type_name}: {opened}); owners only"
        )
        return None
    return opened


def build_discovery_sensor(
    *,
    collections: Sequence[str],
    seeds: Sequence[str] = (),
    pds_hosts: Sequence[str] = (),
    use_relay: bool = False,
    corpora: Sequence[str] = (),
    closure: ClosureLimits | None = None,
    name: str = "lairs_discovery",
    minimum_interval_seconds: int = 3600,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """Adds actor partitions found from seeds, corpora, PDS hosts and (``use_relay``) the relay.

    A corpus adds its owner first, then on each tick the actors its closure reaches
    through what the refreshes have committed since (a hop per refresh).
    """

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Finds actors with Layers records (seeds, the configured corpora's reference "
        "closures, PDS hosts' listRepos, the relay) and adds them as actor partitions; deactivated or "
        "deleted accounts are reported in the log.",
    )
    def _discovery(
        context: SensorEvaluationContext, atproto: AtprotoResource, repository: RepositoryResource
    ) -> SensorResult:
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
                corpora=corpora,
                repository=_open_or_log(context, repository) if corpora else None,
                closure=closure,
                appview_url=atproto.appview_url,
            )
        for uri, reached in sorted(found.corpora.items()):
            stopped = f"; stopped at {reached.truncated}" if reached.truncated else ""
            context.log.info(
                f"corpus {uri}: {len(reached.actors)} actors reached, {len(reached.missing)} not yet "
                f"refreshed, {reached.records} records{stopped}"
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
    actor_shards: int | None = None,
) -> SensorDefinition:
    """Requests a run per actor whose PDS rev moved since it was last refreshed.

    Each is a run of a named job over ``asset_keys`` (one actor's partition range),
    tagged with the actor's PDS host: ``job_name``, by default
    :data:`~lairs_etl.dagster.constants.PARTITIONS_JOB` for the default sensor, else
    ``<name>_job``. With ``actor_shards`` (the actor-shard layout) changed actors are
    grouped per shard and host instead (:func:`shard_run_requests`).
    """
    layout = PartitionLayout(tuple(collections), actor_shards)
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
        if layout.sharded:
            runs = shard_run_requests(tick.changed, layout, asset_keys, job_name=job.name)
        else:
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
        context.log.info(
            f"{len(tick.changed)} of {len(registered)} actors changed "
            f"({tick.requests} requests, {len(runs)} runs)"
        )
        return SensorResult(run_requests=runs, cursor=tick.state.dumps())

    return _changes
