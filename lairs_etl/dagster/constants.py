"""Names shared by the Dagster layer: asset keys, partition dimensions, metadata keys.

Metadata keys are namespaced ``lairs_etl/…`` (Dagster's own ``dagster/row_count`` aside)
so they never collide with a user's keys in the UI or in queries over the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "ACTORS_TAG",
    "ACTOR_DIMENSION",
    "ACTOR_SHARD_DIMENSION",
    "ACTORS_PARTITIONS",
    "ASSET_METADATA",
    "ASSET_PREFIX",
    "COLLECTION_DIMENSION",
    "METADATA_DESCRIPTIONS",
    "META_TABLES_COMPACTED",
    "META_SNAPSHOTS_EXPIRED",
    "META_MANIFESTS_BEFORE",
    "META_MANIFESTS_AFTER",
    "META_FILES_REMOVED",
    "META_EXPIRED_BEFORE",
    "META_BYTES_REMOVED",
    "META_ACTORS",
    "META_ACTOR_STATUS",
    "META_ACTOR_BYTES",
    "META_ACTOR_SECONDS",
    "META_APPLIED",
    "META_FAILED_COUNT",
    "META_LANDED",
    "META_LANDED_COUNT",
    "META_BLOBS_STORED",
    "META_BLOBS_PRESENT",
    "META_BLOBS_SKIPPED",
    "META_BLOBS_REFUSED",
    "META_BLOBS_FAILED",
    "META_BLOB_BYTES",
    "META_RECORDS",
    "META_REFRESHED_ACTORS",
    "META_THRESHOLD",
    "META_UNVERIFIED",
    "META_BRANCH",
    "META_COMMIT",
    "META_DIAGNOSTICS",
    "META_DIAGNOSTICS_PATH",
    "META_ERROR",
    "META_FAILED",
    "META_FAILED_ACTORS",
    "META_FETCH_MODE",
    "META_INVALID",
    "META_PARQUET_PATH",
    "META_PDS_REV",
    "META_PLAN",
    "META_PUBLISH",
    "META_ROW_COUNT",
    "META_SECONDS",
    "META_STALE_ACTORS",
    "META_STALE_FILES",
    "META_STATUS",
    "META_TABLE_ROWS",
    "META_TABLES",
    "META_TAG",
    "META_VALID",
    "META_VIEWS",
    "META_COMMITS_APPLIED",
    "META_CURSOR",
    "META_DISCOVERED",
    "META_FRAMES",
    "META_LAG_SECONDS",
    "META_OPS_APPLIED",
    "META_OWED",
    "META_REJECTED",
    "META_REJECTED_BY_REASON",
    "META_RESYNCED",
    "META_STALE",
    "META_WAREHOUSE_PATH",
    "FIREHOSE_JOB",
    "MAINTENANCE_JOB",
    "PARTITIONS_JOB",
    "PDS_HOST_TAG",
    "POOL",
    "REFRESH_JOB",
    "STAGES",
]

ASSET_PREFIX = "layers"
STAGES = ("fetched", "validated", "committed", "parquet")
"""The per-partition assets, in dependency order (one op produces all four)."""

ACTORS_PARTITIONS = "lairs_actors"
"""Name of the dynamic partitions set holding actor DIDs."""
ACTOR_DIMENSION = "actor"
ACTOR_SHARD_DIMENSION = "actor_shard"
"""The first dimension in the ``actor_shard`` layout: a stable hash bucket of actor DIDs."""
COLLECTION_DIMENSION = "collection"
ACTORS_TAG = "lairs_etl/actor_dids"
"""Run tag naming the actors (space-separated DIDs) a run refreshes in its actor shards.

Without it a run over actor-shard partitions refreshes every registered actor of those
shards; the change sensor sets it so a run re-fetches only the actors that changed.
"""

REFRESH_JOB = "lairs_refresh_job"
"""The job the refresh schedule runs: every stage over a partition range, then the
snapshot and the warehouse (a named job, so its runs can be viewed and re-executed)."""
PARTITIONS_JOB = "lairs_partitions_job"
"""The job the change sensor runs: the four per-partition stages of one actor."""

POOL = "lairs_pds"
"""The pool the refresh op runs in (its slots cap concurrent refresh steps)."""
PDS_HOST_TAG = "lairs_etl/pds_host"
"""Run tag naming the PDS a run pulls from (``dagster.yaml`` caps runs per value)."""

META_ROW_COUNT = "dagster/row_count"
META_VALID = "lairs_etl/valid"
META_INVALID = "lairs_etl/invalid"
META_ACTOR_BYTES = "lairs_etl/actor_bytes_fetched"
META_ACTOR_SECONDS = "lairs_etl/actor_stage_seconds"
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
META_TABLES = "lairs_etl/tables"
META_ACTORS = "lairs_etl/actors"
META_ACTOR_STATUS = "lairs_etl/actor_status"
META_REFRESHED_ACTORS = "lairs_etl/refreshed_actors"
META_BRANCH = "lairs_etl/branch"
META_VIEWS = "lairs_etl/views"
META_STALE_FILES = "lairs_etl/stale_files_written"
META_STALE_ACTORS = "lairs_etl/stale_actors_rewritten"
META_WAREHOUSE_PATH = "lairs_etl/warehouse_path"
META_TABLE_ROWS = "lairs_etl/table_rows"
META_SNAPSHOTS_EXPIRED = "lairs_etl/snapshots_expired"
META_FILES_REMOVED = "lairs_etl/files_removed"
META_BYTES_REMOVED = "lairs_etl/bytes_removed"
META_EXPIRED_BEFORE = "lairs_etl/expired_before"
META_TABLES_COMPACTED = "lairs_etl/tables_compacted"
META_MANIFESTS_BEFORE = "lairs_etl/manifests_before"
META_MANIFESTS_AFTER = "lairs_etl/manifests_after"
META_APPLIED = "lairs_etl/applied"
META_PUBLISH = "lairs_etl/publish"
META_PLAN = "lairs_etl/plan"
META_UNVERIFIED = "lairs_etl/unverified"
META_THRESHOLD = "lairs_etl/threshold"
META_RECORDS = "lairs_etl/records"
META_FAILED_COUNT = "lairs_etl/failed_count"
META_LANDED = "lairs_etl/landed"
META_LANDED_COUNT = "lairs_etl/landed_count"
META_BLOBS_STORED = "lairs_etl/blobs_stored"
META_BLOBS_PRESENT = "lairs_etl/blobs_present"
META_BLOBS_SKIPPED = "lairs_etl/blobs_skipped"
META_BLOBS_REFUSED = "lairs_etl/blobs_refused"
META_BLOBS_FAILED = "lairs_etl/blobs_failed"
META_BLOB_BYTES = "lairs_etl/blob_bytes_fetched"

META_FRAMES = "lairs_etl/frames"
META_COMMITS_APPLIED = "lairs_etl/commits_applied"
META_OPS_APPLIED = "lairs_etl/ops_applied"
META_REJECTED = "lairs_etl/rejected"
META_REJECTED_BY_REASON = "lairs_etl/rejected_by_reason"
META_STALE = "lairs_etl/stale_commits"
META_RESYNCED = "lairs_etl/resynced_actors"
META_DISCOVERED = "lairs_etl/discovered_actors"
META_CURSOR = "lairs_etl/cursor"
META_LAG_SECONDS = "lairs_etl/lag_seconds"
META_OWED = "lairs_etl/owed_actors"
META_FAILED_ACTORS = "lairs_etl/failed_actors"
FIREHOSE_JOB = "lairs_firehose_job"
"""The job the firehose sensor keeps running: one bounded window of the verified firehose."""
MAINTENANCE_JOB = "lairs_lake_maintenance_job"
"""The job the maintenance schedule runs: expire the lake's old snapshots, then compact its tables."""

METADATA_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        META_FRAMES: "Firehose frames read in this run (every actor's: most belong to actors not "
        "followed).",
        META_COMMITS_APPLIED: "Commits of followed actors proven from their frames (signature, ops "
        "against the tree, inversion to prevData) and continuing the state the repository holds, "
        "applied in this run.",
        META_OPS_APPLIED: "Record writes (creates, updates, deletes) of tracked collections those commits "
        "carried, applied in this run.",
        META_REJECTED: "Frames refused in this run (nothing of them stored), total; by reason in "
        "`lairs_etl/rejected_by_reason`.",
        META_REJECTED_BY_REASON: "Refused frames by reason: `signature`, `proof` (ops not proven by "
        "the blocks, or inversion not giving prevData), `block hash`, `blocks`, `malformed`, "
        "`desynchronized` (prevData not the state held), `key unavailable`.",
        META_STALE: "Commits at or before the rev already held (replays, or a resume re-reading what "
        "landed): skipped.",
        META_RESYNCED: "Actors fetched again through the sync engine in this run (refused or "
        "desynchronized commits, #sync, tooBig, an outdated cursor, new actors).",
        META_DISCOVERED: "Actors first seen writing a Layers collection on the stream (firehose.discover),"
        " synced in full and added as actor partitions.",
        META_CURSOR: "The stream position (seq) everything before which has landed; the next run "
        "resumes after it.",
        META_FAILED_ACTORS: "Actors whose commit or re-sync failed in this run (see the run's log); "
        "they are owed a re-sync and retried.",
        META_OWED: "Actors still owed a re-sync when the run ended (their fetch failed and waits "
        "to be tried again): the next run starts with them.",
        META_LAG_SECONDS: "Seconds between the producer stamping the last applied commit and its landing in"
        " the repository and lake (includes clock skew).",
        META_ROW_COUNT: "Rows this materialization stands for: on a partition, its records at that "
        "stage (fetched, checked, committed, in the lake); on the snapshot, every record, valid or "
        "not; on the warehouse, the valid records in the lake.",
        META_STATUS: "`ok`, `failed` (see `lairs_etl/error`) or `empty` (nothing committed yet; on an "
        "actor-shard partition, no registered actor in the shard).",
        META_ERROR: "Why it failed: the error's type and message.",
        META_ACTOR_BYTES: "Bytes downloaded from the PDS for the whole actor in this run (in the "
        "actor_shard layout: for all the shard's actors the run refreshed). Reported once per actor (or "
        "shard) and run, on its first collection, so a sum over partitions is the run's total.",
        META_ACTOR_SECONDS: "Seconds this stage took for the whole actor in this run (all its "
        "collections at once; for a commit or lake write shared by several actors, the actor's share by "
        "records; in the actor_shard layout, summed over the shard's actors). Reported once per actor "
        "(or shard), stage and run, on its first collection.",
        META_FETCH_MODE: "How the actor was fetched (`car`, `tree` or `records`; since the last commit "
        "when it could be), or the actor's status (e.g. `unchanged`) when nothing was fetched. On an "
        "actor-shard partition, each mode with how many of the run's actors it served (`car: 3, …`).",
        META_PDS_REV: "The revision of the actor's repository on its PDS that this run read (actor "
        "layout; per actor in `lairs_etl/actor_status` with actor shards).",
        META_VALID: "Records that passed lexicon validation.",
        META_INVALID: "Records that failed lexicon validation (kept and flagged, never dropped).",
        META_DIAGNOSTICS: "A sample of the invalid records' diagnostics (all: the lake's `invalid` table).",
        META_DIAGNOSTICS_PATH: "The lake file holding every diagnostic of this partition (actor layout; "
        "with actor shards, the lake's `invalid` table).",
        META_COMMIT: "The corpus repository commit (CID) holding this state.",
        META_PARQUET_PATH: "The partition's file in the lake (one Iceberg data file; actor layout).",
        META_TAG: "The repository tag naming this snapshot.",
        META_ACTORS: "Actors counted: on the snapshot, every actor it holds; on an actor-shard "
        "partition, the shard's registered actors (the counts are their sums; those the run did not "
        "refresh count as last committed).",
        META_REFRESHED_ACTORS: "Of the shard's actors, those this run refreshed (all, or those the "
        "run's `lairs_etl/actor_dids` tag names).",
        META_ACTOR_STATUS: "The shard's actors this run refreshed (failed first, at most 100), one row "
        "each: status, fetch mode, PDS revision, records fetched, bytes fetched and error. Every actor's "
        "counts: the warehouse's `lairs_actor_collection_stats`.",
        META_BRANCH: "The repository branch the snapshot is the head of.",
        META_VIEWS: "Views in the DuckDB warehouse.",
        META_STALE_FILES: "Lake files the warehouse step itself wrote: those of actors whose rows were "
        "from another commit. 0 when the partition runs already brought every actor to the snapshot.",
        META_STALE_ACTORS: "Actors whose lake rows the warehouse step rewrote (see `stale_files_written`).",
        META_WAREHOUSE_PATH: "The DuckDB warehouse file.",
        META_TABLE_ROWS: "Rows per warehouse view.",
        META_SECONDS: "Seconds the step took.",
        META_APPLIED: "Whether the writes were applied to the PDS (false: a dry run, only planned).",
        META_PUBLISH: "The publish summary: revision, commit, writes and calls.",
        META_PLAN: "The planned writes, in order.",
        META_UNVERIFIED: "Failed partitions whose records failed verification (hashes, MST, signature).",
        META_THRESHOLD: "The highest invalid-record rate allowed (refresh.invalid_rate_threshold).",
        META_RECORDS: "Records the check looked at.",
        META_FAILED_COUNT: "Partitions over the threshold.",
        META_FAILED: "The failing partitions (the first 50), as a table; with actor shards, the failing "
        "actor x collection pairs (`did|collection`).",
        META_LANDED: "The writes that had landed on the PDS before the publish stopped.",
        META_LANDED_COUNT: "How many writes had landed before the publish stopped.",
        META_BLOBS_STORED: "Blob references (record x blob) whose blob was fetched, verified against "
        "its CID and kept in this run.",
        META_BLOBS_PRESENT: "Blob references whose blob the repository already held (nothing fetched).",
        META_BLOBS_SKIPPED: "Blob references not fetched: a MIME type or declared size media.mime / "
        "media.max_bytes leave out.",
        META_BLOBS_REFUSED: "Blob references whose bytes did not match their CID (never stored).",
        META_BLOBS_FAILED: "Blob references that could not be fetched (PDS or network errors).",
        META_BLOB_BYTES: "Bytes of blobs downloaded in this run.",
        META_EXPIRED_BEFORE: "The cutoff: snapshots older than this that no tag holds were expired "
        "(now minus maintenance.expire_older_than).",
        META_SNAPSHOTS_EXPIRED: "Snapshots expired in this run, over every lake table.",
        META_FILES_REMOVED: "Files deleted in this run: superseded partition files, files of killed "
        "writes, metadata no snapshot left references.",
        META_BYTES_REMOVED: "Bytes those deleted files held.",
        META_TABLES_COMPACTED: "Lake tables whose manifests this run merged (a metadata-only snapshot each).",
        META_MANIFESTS_BEFORE: "Manifests of those tables before the merge (every reader opens them all).",
        META_MANIFESTS_AFTER: "Manifests of those tables after the merge.",
    }
)
"""What each metadata key means, with its unit; shown in each asset's description."""

_PARTITION_KEYS = (
    META_STATUS,
    META_ERROR,
    META_ROW_COUNT,
    META_ACTOR_SECONDS,
    META_ACTORS,
    META_REFRESHED_ACTORS,
)
ASSET_METADATA: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "fetched": (
            *_PARTITION_KEYS,
            META_ACTOR_BYTES,
            META_FETCH_MODE,
            META_PDS_REV,
            META_ACTOR_STATUS,
        ),
        "validated": (*_PARTITION_KEYS, META_VALID, META_INVALID, META_DIAGNOSTICS, META_DIAGNOSTICS_PATH),
        "committed": (*_PARTITION_KEYS, META_VALID, META_INVALID, META_COMMIT, META_PDS_REV),
        "parquet": (*_PARTITION_KEYS, META_PARQUET_PATH),
        "snapshot": (
            META_STATUS,
            META_ROW_COUNT,
            META_COMMIT,
            META_ACTORS,
            META_VALID,
            META_INVALID,
            META_BRANCH,
            META_TAG,
        ),
        "warehouse": (
            META_STATUS,
            META_ROW_COUNT,
            META_COMMIT,
            META_VIEWS,
            META_STALE_FILES,
            META_STALE_ACTORS,
            META_WAREHOUSE_PATH,
            META_TABLE_ROWS,
        ),
        "published": (META_APPLIED, META_PUBLISH, META_PLAN, META_PDS_REV, META_SECONDS),
        "firehose": (
            META_STATUS,
            META_FRAMES,
            META_COMMITS_APPLIED,
            META_OPS_APPLIED,
            META_REJECTED,
            META_REJECTED_BY_REASON,
            META_STALE,
            META_RESYNCED,
            META_DISCOVERED,
            META_CURSOR,
            META_LAG_SECONDS,
            META_OWED,
            META_FAILED_ACTORS,
            META_COMMIT,
        ),
        "media": (
            META_STATUS,
            META_ROW_COUNT,
            META_BLOBS_STORED,
            META_BLOBS_PRESENT,
            META_BLOBS_SKIPPED,
            META_BLOBS_REFUSED,
            META_BLOBS_FAILED,
            META_BLOB_BYTES,
        ),
    }
)
"""The metadata keys each asset's materializations may carry (a test holds them to it)."""
