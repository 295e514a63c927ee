"""The asset factory: the partitioned refresh multi-asset and the corpus snapshot.

:func:`build_layers_asset_specs` makes the specs through a translator;
:func:`layers_assets` wraps them in one subsettable op per run, so a refresh pays one
process start and one fetch per actor however many of its collections and stages run,
and a partition range (``context.partition_keys``) is served by a single run.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    multi_asset,
)

from lairs_etl.atproto.fetch.model import FetchMode
from lairs_etl.dagster import constants as c
from lairs_etl.dagster._metadata import add_partition_metadata
from lairs_etl.dagster.checks import build_check_specs, evaluate_checks
from lairs_etl.dagster.partitions import PartitionLayout, PartitionOutcome, tracked_collections
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator
from lairs_etl.errors import ConfigError
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import (
    ActorSync,
    CollectionSync,
    LakeTarget,
    RecordProblem,
    Stage,
    Status,
    SyncOptions,
    Target,
    sync,
)

__all__ = ["build_layers_asset_specs", "layers_assets", "snapshot_asset"]

_SAMPLE = 20
_ACTORS_SHOWN = 100


def build_layers_asset_specs(
    translator: LayersTranslator | None = None, collections: Sequence[str] = ()
) -> dict[str, AssetSpec]:
    """The four per-partition specs by stage, each depending on the previous stage."""
    chosen = translator or LayersTranslator()
    specs: dict[str, AssetSpec] = {}
    previous: tuple[AssetKey, ...] = ()
    for stage in c.STAGES:
        spec = chosen.get_asset_spec(LayersAssetData(stage, previous, collections=tuple(collections)))
        specs[stage] = spec.replace_attributes(skippable=True)
        previous = (spec.key,)
    return specs


def layers_assets(
    *,
    collections: Sequence[str] | None = None,
    translator: LayersTranslator | None = None,
    name: str = "layers_refresh",
    fetch_mode: FetchMode = "auto",
    invalid_rate_threshold: float = 0.05,
    workers: int = 4,
    pool: str | None = c.POOL,
    actor_shards: int | None = None,
) -> AssetsDefinition:
    """The partitioned ``fetched → validated → committed → parquet`` multi-asset.

    Partitions are actor x collection, or with ``actor_shards`` actor shard x collection
    (see :mod:`~lairs_etl.dagster.partitions`: the layout for tens of thousands of actors).

    Resources: ``atproto`` (:class:`AtprotoResource`), ``repository``
    (:class:`RepositoryResource`), ``lake`` (:class:`LakeResource`).

    Raises:
        ConfigError: a collection is not a Layers record type, or the shard count is out of range.
    """
    tracked = tracked_collections(collections)
    layout = PartitionLayout(tracked, actor_shards)
    specs = build_layers_asset_specs(translator, tracked)
    keys = {stage: spec.key for stage, spec in specs.items()}

    @multi_asset(
        name=name,
        specs=list(specs.values()),
        check_specs=build_check_specs(keys, invalid_rate_threshold),
        partitions_def=layout.definition(),
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=True,
        pool=pool,
    )
    def _refresh(
        context: AssetExecutionContext,
        atproto: AtprotoResource,
        repository: RepositoryResource,
        lake: LakeResource,
    ) -> Iterator[Any]:
        selected = {stage for stage, key in keys.items() if key in context.selected_asset_keys}
        by_primary: dict[str, list[tuple[str, str]]] = {}
        for key in context.partition_keys:
            primary, collection = layout.split(key)
            by_primary.setdefault(primary, []).append((str(key), collection))
        refreshed, kept = _members(context, layout, by_primary)
        targets = [Target(did, tuple(col for _, col in by_primary[primary])) for did, primary in refreshed]
        stages = {Stage(stage) for stage in selected}
        if stages & {Stage.VALIDATED, Stage.COMMITTED}:
            stages.add(Stage.FETCHED)  # a later stage of records needs them fetched
        options = SyncOptions(
            branch=repository.branch,
            author="lairs-etl dagster",
            tracked=tracked,
            fetch_mode=fetch_mode,
            workers=workers,
            stages=frozenset(stages),
        )
        repo = repository.open()
        with atproto.client() as client:
            report = sync(
                targets,
                client=client,
                resolver=atproto.resolver(client),
                repository=repo,
                lake=LakeTarget(lake.url, lake.options(), lake.catalog_choice()),
                options=options,
            )
        results: list[PartitionOutcome] = []
        grouped: dict[str, list[PartitionOutcome]] = {str(k): [] for k in context.partition_keys}
        for actor, (_, primary) in zip(report.actors, refreshed, strict=True):
            for key, collection in by_primary[primary]:
                found = actor.collection(collection) or CollectionSync(collection)
                outcome = PartitionOutcome(key, actor, found)
                results.append(outcome)
                grouped[key].append(outcome)
                if not outcome.ok:
                    context.log.error(f"partition {outcome.name} failed: {actor.error_type}: {actor.error}")
                elif actor.lake_error and "parquet" in selected:
                    context.log.error(f"partition {outcome.name}: views not written: {actor.lake_error}")
        for outcome in _as_committed(repo, repository.branch, kept, by_primary):
            grouped[outcome.key].append(outcome)  # counted in the partitions, not judged by the checks
        first = {parts[0][0] for parts in by_primary.values()}  # where an actor's (shard's) totals go
        add_partition_metadata(
            context,
            [
                (keys[stage], key, _metadata(stage, outcomes, totals=key in first, sharded=layout.sharded))
                for key, outcomes in grouped.items()
                for stage in selected
            ],
        )
        for stage in c.STAGES:
            if stage in selected:
                yield MaterializeResult(asset_key=keys[stage])
        for check in evaluate_checks(results, keys, selected, invalid_rate_threshold):
            if check.asset_key is not None and check.check_name is not None:
                yield check

    return _refresh


def _members(
    context: AssetExecutionContext, layout: PartitionLayout, by_primary: Mapping[str, object]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(did, primary)`` of the actors the run refreshes, and of those it only counts.

    In the actor layout the partitions name the actors, all refreshed. In the actor-shard
    layout a partition stands for its shard's registered actors: the run refreshes them
    all, or only those its :data:`~lairs_etl.dagster.constants.ACTORS_TAG` names, and
    counts the others as last committed, so a partition's counts stay the shard's.

    Raises:
        ConfigError: the tag names an actor that is not registered, or one outside the
            run's shards (it would be fetched, then never refreshed again).
    """
    if not layout.sharded:
        return [(did, did) for did in by_primary], []
    registered = context.instance.get_dynamic_partitions(c.ACTORS_PARTITIONS)
    members = [(did, shard) for did in registered if (shard := layout.primary(did)) in by_primary]
    named = context.run.tags.get(c.ACTORS_TAG)
    if not named:
        return members, []
    wanted = set(named.split())
    unknown = sorted(wanted - set(registered))
    if unknown:
        raise ConfigError(
            f"{c.ACTORS_TAG} names actors not in {c.ACTORS_PARTITIONS}: {', '.join(unknown[:5])}"
        )
    outside = sorted(did for did in wanted if layout.primary(did) not in by_primary)
    if outside:
        raise ConfigError(f"{c.ACTORS_TAG} names actors outside the run's shards: {', '.join(outside[:5])}")
    return [m for m in members if m[0] in wanted], [m for m in members if m[0] not in wanted]


def _as_committed(
    repo: Repository,
    branch: str,
    kept: Sequence[tuple[str, str]],
    by_primary: Mapping[str, Sequence[tuple[str, str]]],
) -> list[PartitionOutcome]:
    """The shard partitions' other actors as the repository holds them (nothing fetched).

    Their lake rows are taken to be their valid records: the parquet check held that
    when they were last written.
    """
    if not kept or repo.head(branch) is None:
        return []
    states = repo.actors(branch, dids=[did for did, _ in kept])
    out = []
    for did, primary in kept:
        state = states.get(did)
        if state is None:
            continue  # registered, never committed yet: nothing to count
        for key, collection in by_primary[primary]:
            known = state.collection(collection)
            valid = (known.valid_count or 0) if known else 0
            invalid = (known.invalid_count or 0) if known else 0
            counted = CollectionSync(collection, valid=valid, invalid=invalid, lake_rows=valid)
            actor = ActorSync(did, Status.UNCHANGED, did=did, rev=state.pds_rev, collections=(counted,))
            out.append(PartitionOutcome(key, actor, counted, refreshed=False))
    return out


def snapshot_asset(
    *,
    translator: LayersTranslator | None = None,
    tag_prefix: str | None = None,
) -> AssetsDefinition:
    """The unpartitioned ``layers/snapshot``: the branch head over all partitions, tagged.

    With ``tag_prefix`` each materialization tags the head ``<prefix><UTC time>``, a
    reproducible corpus version to export from.
    """
    chosen = translator or LayersTranslator()
    stages = build_layers_asset_specs(chosen)
    deps = (stages["committed"].key, stages["parquet"].key)
    spec = chosen.get_asset_spec(LayersAssetData("snapshot", deps, partitioned=False))

    @multi_asset(name="layers_snapshot", specs=[spec])
    def _snapshot(context: AssetExecutionContext, repository: RepositoryResource) -> MaterializeResult[Any]:
        repo = repository.open()
        head = repo.head()
        if head is None:
            return MaterializeResult(metadata={c.META_STATUS: "empty", c.META_ROW_COUNT: 0})
        actors = repo.actors(head)
        valid = sum(s.valid_count or 0 for s in actors.values())
        invalid = sum(s.invalid_count or 0 for s in actors.values())
        metadata: dict[str, Any] = {
            c.META_COMMIT: head.encode(),
            c.META_ACTORS: len(actors),
            c.META_VALID: valid,
            c.META_INVALID: invalid,
            c.META_ROW_COUNT: valid + invalid,
            c.META_BRANCH: repository.branch,
        }
        if tag_prefix is not None:
            name = f"{tag_prefix}{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"
            repo.tag(name, head.encode())
            metadata[c.META_TAG] = name
            context.log.info(f"tagged {head.encode()} as {name}")
        return MaterializeResult(metadata=metadata)

    return _snapshot


def _metadata(
    stage: str, outcomes: Sequence[PartitionOutcome], *, totals: bool, sharded: bool
) -> Mapping[str, Any]:
    """One partition's metadata for ``stage`` (keys and meanings: ``c.METADATA_DESCRIPTIONS``).

    ``outcomes`` are the partition's actors: one in the actor layout; in the actor-shard
    layout the shard's registered actors, those the run did not refresh as last
    committed (counts are their sums; fetch mode, time and bytes are the run's). The download
    and the time per stage belong to an actor, not to one of its collections: they go
    on one partition per actor or shard (``totals``), so a sum over the asset's
    partitions is the run's total instead of 26 times it.
    """
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    run = [o for o in outcomes if o.refreshed]
    meta: dict[str, Any] = {c.META_STATUS: "failed" if failed else "ok" if outcomes else "empty"}
    if sharded:
        meta[c.META_ACTORS] = len(outcomes)
        meta[c.META_REFRESHED_ACTORS] = len(run)
    seconds = [o.actor.seconds[Stage(stage)] for o in run if Stage(stage) in o.actor.seconds]
    if totals and seconds:
        meta[c.META_ACTOR_SECONDS] = MetadataValue.float(round(sum(seconds), 3))
    if failed:
        meta[c.META_ERROR] = _error(failed, len(outcomes), sharded)
    if failed and not ok:
        return {**meta, c.META_ROW_COUNT: 0}
    if stage == "fetched":
        meta[c.META_ROW_COUNT] = sum(o.collection.records for o in ok if o.refreshed)  # this run's
        modes = [o.actor.mode or str(o.actor.status) for o in ok if o.refreshed]
        if sharded:
            if modes:
                meta[c.META_FETCH_MODE] = ", ".join(f"{m}: {n}" for m, n in sorted(Counter(modes).items()))
            if totals:
                meta[c.META_ACTOR_STATUS] = _actor_status(run)
        else:
            meta[c.META_FETCH_MODE] = modes[0]
            meta[c.META_PDS_REV] = ok[0].actor.rev or ""
        if totals:
            meta[c.META_ACTOR_BYTES] = sum(o.actor.bytes_fetched for o in run)
        return meta
    valid = sum(o.collection.valid for o in ok)
    invalid = sum(o.collection.invalid for o in ok)
    if stage == "validated":
        meta.update({c.META_ROW_COUNT: valid + invalid, c.META_VALID: valid, c.META_INVALID: invalid})
        # Only where there is something to show: every entry is stored (and serialized)
        # once per partition, and an empty table on each clean partition is just noise.
        problems = [p for o in ok for p in o.collection.problems]
        if problems:
            meta[c.META_DIAGNOSTICS] = _sample(problems)
        paths = [o.collection.invalid_path for o in ok if o.collection.invalid_path]
        if paths and not sharded:
            meta[c.META_DIAGNOSTICS_PATH] = MetadataValue.path(paths[0])
        return meta
    if stage == "committed":
        commits = [o.actor.commit for o in ok if o.actor.commit]
        meta.update({c.META_ROW_COUNT: valid + invalid, c.META_VALID: valid, c.META_INVALID: invalid})
        meta[c.META_COMMIT] = commits[-1] if commits else ""  # the run's last commit holds them all
        if not sharded:
            meta[c.META_PDS_REV] = ok[0].actor.rev or ""
        return meta
    unwritten = [o for o in ok if o.actor.lake_error]
    if unwritten:
        meta[c.META_STATUS] = "failed"
        meta[c.META_ERROR] = _lake_error(unwritten, len(outcomes), sharded)
    meta[c.META_ROW_COUNT] = sum(o.collection.lake_rows or 0 for o in ok if not o.actor.lake_error)
    if not sharded and ok[0].collection.lake_path and not unwritten:
        meta[c.META_PARQUET_PATH] = MetadataValue.path(ok[0].collection.lake_path)
    return meta


def _error(failed: Sequence[PartitionOutcome], total: int, sharded: bool) -> str:
    first = failed[0].actor
    reason = f"{first.error_type}: {first.error}"
    if not sharded:
        return reason
    return f"{len(failed)} of {total} actors failed; {first.did or first.actor}: {reason}"


def _lake_error(unwritten: Sequence[PartitionOutcome], total: int, sharded: bool) -> str:
    first = unwritten[0].actor
    reason = first.lake_error or ""
    if not sharded:
        return reason
    return f"{len(unwritten)} of {total} actors not written to the lake; {first.did or first.actor}: {reason}"


def _actor_status(outcomes: Sequence[PartitionOutcome]) -> MetadataValue:
    """The shard's actors in this run, failed first (``_ACTORS_SHOWN`` at most), as a table."""
    columns = {
        "did": "string",
        "status": "string",
        "fetch_mode": "string",
        "pds_rev": "string",
        "records": "int",
        "bytes_fetched": "int",
        "error": "string",
    }
    ordered = sorted(outcomes, key=lambda o: (o.ok, o.actor.did or o.actor.actor))
    # Dagster wants every row to hold every field: absent text is "".
    rows = [
        TableRecord(
            {
                "did": o.actor.did or o.actor.actor,
                "status": str(o.actor.status),
                "fetch_mode": o.actor.mode or "",
                "pds_rev": o.actor.rev or "",
                "records": o.actor.records,
                "bytes_fetched": o.actor.bytes_fetched,
                "error": "" if o.ok else f"{o.actor.error_type}: {o.actor.error}",
            }
        )
        for o in ordered[:_ACTORS_SHOWN]
    ]
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns.items()])
    return MetadataValue.table(rows, schema=schema)


def _sample(problems: Sequence[RecordProblem]) -> MetadataValue:
    schema = TableSchema(columns=[TableColumn(n) for n in ("uri", "path", "code", "message")])
    rows = [
        TableRecord({"uri": d.uri, "path": d.path, "code": d.code, "message": d.message})
        for d in problems[:_SAMPLE]
    ]
    return MetadataValue.table(rows, schema=schema)
