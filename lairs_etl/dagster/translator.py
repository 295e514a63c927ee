"""How the Layers assets appear in Dagster: one override point, :meth:`get_asset_spec`.

As in dagster-dlt, a subclass of :class:`LayersTranslator` renames keys, moves groups
or adds tags and owners without touching the op: the factory builds every spec through
the translator and wires dependencies by the keys it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import AssetKey, AssetSpec

from lairs_etl.dagster.constants import ASSET_METADATA, ASSET_PREFIX, METADATA_DESCRIPTIONS
from lairs_etl.dagster.tables import lake_tables_metadata

__all__ = ["LayersAssetData", "LayersTranslator", "describe", "with_metadata"]

_DESCRIPTIONS = {
    "fetched": "Records pulled from the actor's PDS and verified (hashes, MST, signature).",
    "validated": "The partition's records checked against the Layers lexicons, with diagnostics.",
    "committed": "The partition's verified records committed to the corpus repository (invalid ones too).",
    "parquet": "The partition's valid records as a Parquet file in the lake. Definition metadata: "
    "`dagster/column_schema` (the columns every record table has) and `lairs_etl/tables` (each "
    "collection's warehouse view, Iceberg table and columns, from the generated models).",
    "snapshot": "A corpus-level version over every partition's latest state, tagged when configured.",
    "warehouse": "The DuckDB warehouse over the lake's Parquet views.",
    "published": "A repository revision published back to its actor's PDS.",
    "firehose": "What the verified firehose (com.atproto.sync.subscribeRepos, Sync 1.1) applied in one "
    "bounded window: each followed actor's commits proven from their frames and continuing the "
    "repository's state, committed and written to the lake; refused frames counted, their actors "
    "fetched again instead.",
    "media": "The blobs (audio, video, images, PDFs) the actor's committed records reference, fetched "
    "from its PDS, verified against their CIDs and kept once in the repository's blobs/; listed in "
    "the lake's media table.",
}


def describe(stage: str) -> str | None:
    """The stage's description, then what each metadata key of its materializations means."""
    base = _DESCRIPTIONS.get(stage)
    keys = ASSET_METADATA.get(stage)
    if base is None or not keys:
        return base
    return with_metadata(base, keys)


def with_metadata(description: str, keys: Sequence[str]) -> str:
    """``description``, then a Markdown list of what each metadata key means."""
    listed = "\n".join(f"- `{key}`: {METADATA_DESCRIPTIONS[key]}" for key in keys)
    return f"{description}\n\n**Metadata**\n\n{listed}"


_KINDS = {"parquet": {"atproto", "parquet"}, "warehouse": {"duckdb", "parquet"}}


@dataclass(frozen=True, slots=True)
class LayersAssetData:
    """What the translator is asked about: the stage, the keys it depends on, the collections."""

    stage: str
    deps: tuple[AssetKey, ...] = ()
    partitioned: bool = True
    collections: tuple[str, ...] = ()


class LayersTranslator:
    """Default names: ``layers/<stage>`` in group ``layers``, kind ``atproto``."""

    def get_asset_spec(self, data: LayersAssetData) -> AssetSpec:
        """The spec of one asset; override to rename, regroup or tag.

        ``layers/parquet`` carries the lake tables of ``data.collections`` as definition
        metadata (:func:`~lairs_etl.dagster.tables.lake_tables_metadata`).
        """
        metadata = lake_tables_metadata(data.collections) if data.stage == "parquet" else {}
        return AssetSpec(
            key=AssetKey([ASSET_PREFIX, data.stage]),
            deps=data.deps,
            group_name=ASSET_PREFIX,
            description=describe(data.stage),
            kinds=_KINDS.get(data.stage, {"atproto"}),
            tags={"lairs_etl/stage": data.stage},
            metadata=metadata,
        )
