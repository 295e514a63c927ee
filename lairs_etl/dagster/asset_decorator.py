"""The asset factory: the partitioned refresh multi-asset and the corpus snapshot.

:func:`build_layers_asset_specs` makes the specs through a translator;
:func:`layers_assets` wraps them in one subsettable op per run, so a refresh pays one
process start and one fetch per actor however many of its collections and stages run,
and a partition range (``context.partition_keys``) is served by a single run.
"""

import datetime as dt
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
from lairs_etl.dagster.partitions import PartitionOutcome, build_partitions, split_key, tracked_collections
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator
from lairs_etl.sync import CollectionSync, LakeTarget, Stage, SyncOptions, Target, sync

__all__ = ["build_layers_asset_specs", "layers_assets", "snapshot_asset"]

_SAMPLE = 20


def build_layers_asset_specs(translator: LayersTranslator | None = None) -> dict[str, AssetSpec]:
    """The four per-partition specs by stage, each depending on the previous stage."""
    chosen = translator or LayersTranslator()
    specs: dict[str, AssetSpec] = {}
    previous: tuple[AssetKey, ...] = ()
    for stage in c.STAGES:
        spec = chosen.get_asset_spec(LayersAssetData(stage, previous))
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
) -> AssetsDefinition:
    """The partitioned ``fetched → validated → committed → parquet`` multi-asset.

    Resources: ``atproto`` (:class:`AtprotoResource`), ``repository``
    (:class:`RepositoryResource`), ``lake`` (:class:`LakeResource`).

    Raises:
        ConfigError: a collection is not a Layers record type.
    """
    tracked = tracked_collections(collections)
    specs = build_layers_asset_specs(translator)
    keys = {stage: spec.key for stage, spec in specs.items()}

    @multi_asset(
        name=name,
        specs=list(specs.values()),
        check_specs=build_check_specs(keys, invalid_rate_threshold),
        partitions_def=build_partitions(tracked),
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
        by_actor: dict[str, list[tuple[str, str]]] = {}
        for key in context.partition_keys:
            did, collection = split_key(key)
            by_actor.setdefault(did, []).append((str(key), collection))
        targets = [Target(did, tuple(col for _, col in parts)) for did, parts in by_actor.items()]
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
        with atproto.client() as client:
            report = sync(
                targets,
                client=client,
                resolver=atproto.resolver(client),
                repository=repository.open(),
                lake=LakeTarget(lake.url, lake.options(), lake.catalog_choice()),
                options=options,
            )
        results: list[PartitionOutcome] = []
        for actor, (_, parts) in zip(report.actors, by_actor.items(), strict=True):
            for key, collection in parts:
                found = actor.collection(collection) or CollectionSync(collection)
                results.append(PartitionOutcome(key, actor, found))
        entries: list[tuple[AssetKey, str, Mapping[str, Any]]] = []
        first = {parts[0][0] for parts in by_actor.values()}  # where an actor's totals go
        for result in results:
            entries.extend(
                (keys[stage], result.key, _metadata(stage, result, actor_totals=result.key in first))
                for stage in selected
            )
            if not result.ok:
                context.log.error(
                    f"partition {result.key} failed: {result.actor.error_type}: {result.actor.error}"
                )
            elif result.actor.lake_error and "parquet" in selected:
                context.log.error(f"partition {result.key}: views not written: {result.actor.lake_error}")
        add_partition_metadata(context, entries)
        for stage in c.STAGES:
            if stage in selected:
                yield MaterializeResult(asset_key=keys[stage])
        for check in evaluate_checks(results, keys, selected, invalid_rate_threshold):
            if check.asset_key is not None and check.check_name is not None:
                yield check

    return _refresh


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


def _metadata(stage: str, result: PartitionOutcome, *, actor_totals: bool) -> Mapping[str, Any]:
    """One partition's metadata for ``stage`` (keys and meanings: ``c.METADATA_DESCRIPTIONS``).

    The actor's download and its time per stage belong to the actor, not to any one of
    its collections: they go on one partition per actor (``actor_totals``), so a sum
    over the asset's partitions is the run's total instead of 26 times it.
    """
    actor, collection = result.actor, result.collection
    common: dict[str, Any] = {c.META_STATUS: "ok" if result.ok else "failed"}
    if actor_totals and Stage(stage) in actor.seconds:
        common[c.META_ACTOR_SECONDS] = MetadataValue.float(round(actor.seconds[Stage(stage)], 3))
    if not result.ok:
        return {**common, c.META_ERROR: f"{actor.error_type}: {actor.error}", c.META_ROW_COUNT: 0}
    if stage == "fetched":
        fetched = {
            **common,
            c.META_ROW_COUNT: collection.records,
            c.META_FETCH_MODE: actor.mode or str(actor.status),
            c.META_PDS_REV: actor.rev or "",
        }
        if actor_totals:
            fetched[c.META_ACTOR_BYTES] = actor.bytes_fetched
        return fetched
    if stage == "validated":
        meta = {
            **common,
            c.META_ROW_COUNT: collection.valid + collection.invalid,
            c.META_VALID: collection.valid,
            c.META_INVALID: collection.invalid,
        }
        # Only where there is something to show: every entry is stored (and serialized)
        # once per partition, and an empty table on each clean partition is just noise.
        if collection.problems:
            meta[c.META_DIAGNOSTICS] = _sample(collection)
        if collection.invalid_path:
            meta[c.META_DIAGNOSTICS_PATH] = MetadataValue.path(collection.invalid_path)
        return meta
    if stage == "committed":
        return {
            **common,
            c.META_ROW_COUNT: collection.valid + collection.invalid,
            c.META_VALID: collection.valid,
            c.META_INVALID: collection.invalid,
            c.META_COMMIT: actor.commit or "",
            c.META_PDS_REV: actor.rev or "",
        }
    if actor.lake_error:
        return {**common, c.META_STATUS: "failed", c.META_ERROR: actor.lake_error, c.META_ROW_COUNT: 0}
    meta = {**common, c.META_ROW_COUNT: collection.lake_rows or 0}
    if collection.lake_path:
        meta[c.META_PARQUET_PATH] = MetadataValue.path(collection.lake_path)
    return meta


def _sample(collection: CollectionSync) -> MetadataValue:
    schema = TableSchema(columns=[TableColumn(n) for n in ("uri", "path", "code", "message")])
    rows = [
        TableRecord({"uri": d.uri, "path": d.path, "code": d.code, "message": d.message})
        for d in collection.problems[:_SAMPLE]
    ]
    return MetadataValue.table(rows, schema=schema)
