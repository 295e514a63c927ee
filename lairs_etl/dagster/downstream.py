"""Assets downstream of the corpus: the DuckDB warehouse and the per-actor publish.

Both call the library once per materialization: :func:`lairs_etl.views.materialize` and
:func:`lairs_etl.views.build_warehouse` for ``layers/warehouse``;
:func:`lairs_etl.publish.publish` for ``layers/published``, a dry run (a plan in the
metadata) unless the run config sets ``apply: true``.

No ``from __future__ import annotations``: Dagster reads annotations at definition time.
"""

from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from lairs_etl.dagster import constants as c
from lairs_etl.dagster.partitions import actor_partitions
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator
from lairs_etl.errors import PublishError
from lairs_etl.publish.apply import WriteResult

__all__ = ["PublishConfig", "published_asset", "warehouse_asset"]

_LANDED_SHOWN = 200


def warehouse_asset(
    *, translator: LayersTranslator | None = None, db_path: str | None = None
) -> AssetsDefinition:
    """``layers/warehouse``: the lake at the snapshot's revision, and DuckDB over it.

    The partition asset ``layers/parquet`` keeps each refreshed actor's views current;
    this brings the rest of the lake to the snapshot's revision (actors written from
    another commit are rewritten; actors gone from the repository leave the lake), so
    the warehouse reads one revision without redoing what the partitions just wrote.
    The DuckDB file goes to ``db_path`` (default ``<lake>/warehouse.duckdb``, which
    needs a local lake).
    """
    chosen = translator or LayersTranslator()
    snapshot = chosen.get_asset_spec(LayersAssetData("snapshot", partitioned=False)).key
    spec = chosen.get_asset_spec(LayersAssetData("warehouse", (snapshot,), partitioned=False))

    @multi_asset(name="layers_warehouse", specs=[spec])
    def _warehouse(repository: RepositoryResource, lake: LakeResource) -> MaterializeResult[Any]:
        from lairs_etl.views import RepositorySource, build_warehouse, materialize

        repo = repository.open()
        head = repo.head()
        if head is None:
            return MaterializeResult(metadata={c.META_STATUS: "empty", c.META_ROW_COUNT: 0})
        written = materialize(
            RepositorySource(repo, head.encode()),
            lake.url,
            storage_options=lake.options(),
            stale_only=True,
            catalog=lake.catalog_choice(),
        )
        target = db_path or f"{lake.filesystem()[1]}/warehouse.duckdb"
        summary = build_warehouse(lake.url, target, lake.options())
        return MaterializeResult(
            metadata={
                c.META_COMMIT: head.encode(),
                c.META_ROW_COUNT: written.records,
                c.META_VIEWS: len(summary.views),
                c.META_STALE_FILES: written.files_written,
                c.META_STALE_ACTORS: len(written.actors),
                c.META_WAREHOUSE_PATH: MetadataValue.path(target),
                c.META_TABLE_ROWS: _table_rows(summary.table_rows),
            }
        )

    return _warehouse


class PublishConfig(Config):
    """Run config of ``layers/published``: dry run unless ``apply``.

    Only the *name* of the password's variable is config: run config is stored in the
    event log and shown in the UI, so the secret itself never passes through it.
    """

    apply: bool = Field(default=False, description="Write to the PDS; otherwise only plan.")
    rev: str | None = Field(
        default=None,
        description="Branch, tag or commit to publish; default the repository resource's branch.",
    )
    password_env: str = Field(default="LAIRS_APP_PASSWORD", description="Variable holding the app password.")


def published_asset(*, translator: LayersTranslator | None = None) -> AssetsDefinition:
    """``layers/published``, per actor: the actor's records at ``rev`` made the PDS's own."""
    chosen = translator or LayersTranslator()
    snapshot = chosen.get_asset_spec(LayersAssetData("snapshot", partitioned=False)).key
    spec = chosen.get_asset_spec(LayersAssetData("published", (snapshot,)))

    @multi_asset(name="layers_published", specs=[spec], partitions_def=actor_partitions)
    def _published(
        context: AssetExecutionContext,
        config: PublishConfig,
        atproto: AtprotoResource,
        repository: RepositoryResource,
    ) -> MaterializeResult[Any]:
        from lairs_etl.publish import format_plan, publish

        # A fixed "main" would publish a stale branch, or fail, when the deployment commits elsewhere.
        rev = config.rev or repository.branch
        with atproto.client() as client:
            try:
                report = publish(
                    repository.open(),
                    rev,
                    context.partition_key,
                    apply=config.apply,
                    client=client,
                    resolver=atproto.resolver(client),
                    password_env=config.password_env,
                )
            except PublishError as exc:
                raise _stopped(exc) from exc
        summary = report.summary()
        shown = ("rev", "commit", "applied", "plan", "writes", "calls", "replans", "recorded_commit")
        return MaterializeResult(
            metadata={
                c.META_APPLIED: report.applied,
                c.META_PUBLISH: MetadataValue.json({k: summary[k] for k in shown}),
                c.META_PLAN: MetadataValue.md(f"```\n{format_plan(report.plan)}\n```"),
                c.META_PDS_REV: report.pds_rev or "",
                c.META_SECONDS: round(report.seconds, 3),
            }
        )

    return _published


def _table_rows(rows: Mapping[str, int]) -> MetadataValue:
    """Rows per warehouse view, as a table the UI shows (a view per row, sorted by name)."""
    schema = TableSchema(
        columns=[
            TableColumn("view", "string", description="Warehouse view"),
            TableColumn("rows", "int", description="Rows it holds"),
        ]
    )
    records = [TableRecord({"view": name, "rows": int(count)}) for name, count in sorted(rows.items())]
    return MetadataValue.table(records, schema=schema)


def _stopped(exc: PublishError) -> Failure:
    """The run's failure, with what had landed on the PDS before the publish stopped."""
    landed = [w.to_json() for w in exc.landed if isinstance(w, WriteResult)]
    return Failure(
        description=f"publish stopped after {len(landed)} writes landed (a re-run finishes the job): {exc}",
        metadata={
            c.META_ERROR: f"{type(exc).__name__}: {exc}",
            c.META_LANDED_COUNT: len(landed),
            c.META_LANDED: MetadataValue.json(landed[:_LANDED_SHOWN]),
        },
    )
