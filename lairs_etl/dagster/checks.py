"""The asset checks of a refresh run, computed from its partition results.

Checks are declared on the multi-asset (``check_specs``) and evaluated once per run
over the run's partitions; their metadata names the partitions that failed, so a bad
actor is visible without failing the others' materializations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from lairs_etl.dagster.constants import (
    META_FAILED,
    META_FAILED_COUNT,
    META_INVALID,
    META_RECORDS,
    META_THRESHOLD,
    META_UNVERIFIED,
)
from lairs_etl.dagster.partitions import PartitionOutcome
from lairs_etl.dagster.translator import with_metadata

__all__ = [
    "CHECK_INVALID_RATE",
    "CHECK_PARQUET_ROWS",
    "CHECK_VERIFIED",
    "build_check_specs",
    "evaluate_checks",
]

CHECK_VERIFIED = "verification_passed"
CHECK_INVALID_RATE = "invalid_rate_below_threshold"
CHECK_PARQUET_ROWS = "parquet_rows_match_committed"
_SHOWN = 50


def build_check_specs(keys: Mapping[str, AssetKey], invalid_rate_threshold: float) -> list[AssetCheckSpec]:
    """One spec per check, on the stage asset it judges."""
    return [
        AssetCheckSpec(
            CHECK_VERIFIED,
            asset=keys["fetched"],
            blocking=True,
            description=with_metadata(
                "Every partition's records were fetched and passed verification.",
                (META_FAILED, META_UNVERIFIED),
            ),
        ),
        AssetCheckSpec(
            CHECK_INVALID_RATE,
            asset=keys["validated"],
            description=with_metadata(
                f"Invalid records are at most {invalid_rate_threshold:.0%} of each partition.",
                (META_THRESHOLD, META_INVALID, META_RECORDS, META_FAILED_COUNT, META_FAILED),
            ),
        ),
        AssetCheckSpec(
            CHECK_PARQUET_ROWS,
            asset=keys["parquet"],
            blocking=True,
            description=with_metadata(
                "Each Parquet file holds exactly the partition's valid committed records.", (META_FAILED,)
            ),
        ),
    ]


def evaluate_checks(
    results: Sequence[PartitionOutcome],
    keys: Mapping[str, AssetKey],
    selected: set[str],
    invalid_rate_threshold: float,
) -> list[AssetCheckResult]:
    """Results for the checks whose stage ran (``selected`` stage names)."""
    out = []
    ok = [r for r in results if r.ok]
    if "fetched" in selected:
        failed = [r for r in results if not r.ok]
        out.append(
            AssetCheckResult(
                asset_key=keys["fetched"],
                check_name=CHECK_VERIFIED,
                passed=not failed,
                metadata={
                    META_FAILED: _table(
                        [_failure(r) for r in failed[:_SHOWN]],
                        {"partition": "string", "error_type": "string", "error": "string"},
                    ),
                    META_UNVERIFIED: sum(not r.actor.verified for r in failed),
                },
            )
        )
    if "validated" in selected:
        over = [r for r in ok if r.collection.invalid_rate > invalid_rate_threshold]
        out.append(
            AssetCheckResult(
                asset_key=keys["validated"],
                check_name=CHECK_INVALID_RATE,
                passed=not over,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    META_THRESHOLD: invalid_rate_threshold,
                    META_INVALID: sum(r.collection.invalid for r in ok),
                    META_RECORDS: sum(r.collection.valid + r.collection.invalid for r in ok),
                    META_FAILED_COUNT: len(over),
                    META_FAILED: _table(
                        [
                            {"partition": r.name, "invalid_rate": round(r.collection.invalid_rate, 4)}
                            for r in over[:_SHOWN]
                        ],
                        {"partition": "string", "invalid_rate": "float"},
                    ),
                },
            )
        )
    if "parquet" in selected:
        wrong = [
            r for r in ok if r.actor.lake_error is not None or r.collection.lake_rows != r.collection.valid
        ]
        out.append(
            AssetCheckResult(
                asset_key=keys["parquet"],
                check_name=CHECK_PARQUET_ROWS,
                passed=not wrong,
                metadata={
                    META_FAILED: _table(
                        [
                            {
                                "partition": r.name,
                                "parquet": r.collection.lake_rows,
                                "valid": r.collection.valid,
                            }
                            for r in wrong[:_SHOWN]
                        ],
                        {"partition": "string", "parquet": "int", "valid": "int"},
                    ),
                },
            )
        )
    return out


def _table(
    rows: Sequence[Mapping[str, str | int | float | None]], columns: Mapping[str, str]
) -> MetadataValue:
    """Failing partitions (the first ``_SHOWN``) as a table: the UI shows tables, not JSON."""
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns.items()])
    records = [TableRecord({k: v for k, v in row.items() if v is not None}) for row in rows]
    return MetadataValue.table(records, schema=schema)


def _failure(result: PartitionOutcome) -> dict[str, str | None]:
    return {"partition": result.name, "error_type": result.actor.error_type, "error": result.actor.error}
