"""Per-partition materialization metadata for a whole partition range, in one step.

``context.add_asset_metadata(partition_key=…)`` re-resolves the run's entire partition
range against the instance on every call (three event-log queries for a dynamic
dimension) and copies every metadata entry added so far, so a 520-partition refresh
spent tens of seconds there. This validates the keys once against
``context.partition_keys`` and hands the step its accumulator in one piece. It relies on
the step's metadata accumulator (private in Dagster, ``dagster==1.13.27`` is pinned);
when that is missing it falls back to the public call, slower but equivalent. The
end-to-end tests read the per-partition metadata back, so a Dagster change that broke
this would fail them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetKey

from lairs_etl.errors import ConfigError

__all__ = ["add_partition_metadata"]


def add_partition_metadata(
    context: AssetExecutionContext, entries: Sequence[tuple[AssetKey, str, Mapping[str, Any]]]
) -> None:
    """Attach ``metadata`` to each ``(asset key, partition key)`` of this run.

    Raises:
        ConfigError: a partition key is not targeted by the run.
    """
    targeted = {str(key) for key in context.partition_keys}
    stray = sorted({partition for _, partition, _ in entries} - targeted)
    if stray:
        raise ConfigError(f"partition keys not targeted by this run: {', '.join(stray[:5])}")
    try:
        from dagster._core.execution.context.metadata_logging import (
            AssetMetadataHandle,
            OutputMetadataAccumulator,
        )

        step = context.get_step_execution_context()
        current = step._metadata_accumulator  # see the module docstring
    except (ImportError, AttributeError):
        for asset_key, partition, metadata in entries:
            context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=partition)
        return
    merged: dict[Any, Mapping[str, Any]] = dict(current.per_output_metadata)
    for asset_key, partition, metadata in entries:
        handle = AssetMetadataHandle(asset_key=asset_key, partition_key=partition)
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)
