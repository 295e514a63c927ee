"""``layers/media``, per actor: the blobs its committed records reference, fetched and verified.

One materialization per actor partition calls :func:`lairs_etl.sync.media.fetch_media`
(streamed from the owner's PDS, hashed against the CID, kept once in the repository's
``blobs/``) and :func:`lairs_etl.views.media.write_media` (the actor's rows of the lake's
``media`` table). Defined when ``media.fetch`` is set; materialize it per actor or as a
backfill after a refresh. A blob whose bytes do not match its CID is refused and fails
the partition, naming it, after the others were kept.

No ``from __future__ import annotations``: Dagster reads annotations at definition time.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from lairs_etl.dagster import constants as c
from lairs_etl.dagster.partitions import actor_partitions
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator
from lairs_etl.sync.media import MediaPolicy

__all__ = ["media_asset"]


def media_asset(
    *, policy: MediaPolicy | None = None, translator: LayersTranslator | None = None
) -> AssetsDefinition:
    """``layers/media`` (see the module docstring), fetching what ``policy`` allows."""
    chosen = translator or LayersTranslator()
    snapshot = chosen.get_asset_spec(LayersAssetData("snapshot", partitioned=False)).key
    spec = chosen.get_asset_spec(LayersAssetData("media", (snapshot,)))
    allowed = policy or MediaPolicy()

    @multi_asset(name="layers_media", specs=[spec], partitions_def=actor_partitions)
    def _media(
        context: AssetExecutionContext,
        atproto: AtprotoResource,
        repository: RepositoryResource,
        lake: LakeResource,
    ) -> MaterializeResult[Any]:
        from lairs_etl.sync.media import fetch_media
        from lairs_etl.views.media import write_media

        did = context.partition_key
        repo = repository.open()
        with atproto.client() as client:
            report = fetch_media(
                repo, [did], client=client, resolver=atproto.resolver(client), policy=allowed
            )
        head = repo.head()
        write_media(
            lake.url,
            report.rows_by_actor(),
            "" if head is None else head.encode(),
            storage_options=lake.options(),
            catalog=lake.catalog_choice(),
        )
        bad = [row for row in report.rows if row.status in ("refused", "failed")]
        metadata: dict[str, Any] = {
            c.META_ROW_COUNT: len(report.rows),
            c.META_BLOBS_STORED: report.count("stored"),
            c.META_BLOBS_PRESENT: report.count("present"),
            c.META_BLOBS_SKIPPED: report.count("skipped"),
            c.META_BLOBS_REFUSED: report.count("refused"),
            c.META_BLOBS_FAILED: report.count("failed"),
            c.META_BLOB_BYTES: MetadataValue.int(report.bytes_fetched),
            c.META_STATUS: "failed" if bad else "ok",
        }
        if bad:
            detail = "; ".join(f"{row.blob_cid} of {row.uri}: {row.error}" for row in bad[:10])
            raise Failure(description=f"{len(bad)} blob(s) refused or failed: {detail}", metadata=metadata)
        return MaterializeResult(metadata=metadata)

    return _media
