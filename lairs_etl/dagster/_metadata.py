"""Per-partition materialization metadata for a whole partition range, in one step.

Keys are checked once against ``context.partition_keys`` (a stray key is a
:class:`ConfigError`, not a silent extra event), then each entry goes through the public
``context.add_asset_metadata(partition_key=…)``. That call re-resolves the run's
partition range on every call (a few event-log queries for a dynamic dimension), so a
520-partition run spends seconds here; the step's private metadata accumulator would
avoid it, but the project uses public Dagster API only.
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
    for asset_key, partition, metadata in entries:
        context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=partition)
