"""Names shared by the Dagster layer: asset keys, partition dimensions, metadata keys.

Metadata keys are namespaced ``lairs_etl/…`` (Dagster's own ``dagster/row_count`` aside)
so they never collide with a user's keys in the UI or in queries over the event log.
"""

from __future__ import annotations

__all__ = [
    "ACTOR_DIMENSION",
    "ACTORS_PARTITIONS",
    "ASSET_PREFIX",
    "COLLECTION_DIMENSION",
    "META_BYTES_FETCHED",
    "META_COMMIT",
    "META_DIAGNOSTICS",
    "META_DIAGNOSTICS_PATH",
    "META_ERROR",
    "META_FAILED",
    "META_FETCH_MODE",
    "META_INVALID",
    "META_PARQUET_PATH",
    "META_PDS_REV",
    "META_ROW_COUNT",
    "META_SECONDS",
    "META_STATUS",
    "META_TAG",
    "META_VALID",
    "PDS_HOST_TAG",
    "STAGES",
]

ASSET_PREFIX = "layers"
STAGES = ("fetched", "validated", "committed", "parquet")
"""The per-partition assets, in dependency order (one op produces all four)."""

ACTORS_PARTITIONS = "lairs_actors"
"""Name of the dynamic partitions set holding actor DIDs."""
ACTOR_DIMENSION = "actor"
COLLECTION_DIMENSION = "collection"

PDS_HOST_TAG = "lairs_etl/pds_host"
"""Run tag naming the PDS a run pulls from (``dagster.yaml`` caps runs per value)."""

META_ROW_COUNT = "dagster/row_count"
META_VALID = "lairs_etl/valid"
META_INVALID = "lairs_etl/invalid"
META_BYTES_FETCHED = "lairs_etl/bytes_fetched"
META_FETCH_MODE = "lairs_etl/fetch_mode"
META_PDS_REV = "lairs_etl/pds_rev"
META_COMMIT = "lairs_etl/commit"
META_SECONDS = "lairs_etl/seconds"
META_STATUS = "lairs_etl/status"
META_ERROR = "lairs_etl/error"
META_FAILED = "lairs_etl/failed_partitions"
META_DIAGNOSTICS = "lairs_etl/diagnostics"
META_DIAGNOSTICS_PATH = "lairs_etl/diagnostics_path"
META_PARQUET_PATH = "lairs_etl/parquet_path"
META_TAG = "lairs_etl/tag"
