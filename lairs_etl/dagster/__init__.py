"""The Dagster layer: Layers corpora as partitioned, checked, self-refreshing assets.

The shape follows dagster-dlt: resources (:mod:`.resource`), an asset factory on an
asset-spec builder (:mod:`.asset_decorator`), a translator with one override point
(:mod:`.translator`), and a ``dg`` Component (:mod:`.components`). The work itself is
library code (:mod:`.refresh`, :mod:`.discovery`, :mod:`.changes`), so this layer stays thin.
"""

from lairs_etl.dagster.asset_decorator import build_layers_asset_specs, layers_assets, snapshot_asset
from lairs_etl.dagster.definitions import build_definitions, build_resources, definitions_from_file
from lairs_etl.dagster.partitions import (
    actor_partitions,
    build_partitions,
    partition_key,
    tracked_collections,
)
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource
from lairs_etl.dagster.schedule import build_refresh_schedule
from lairs_etl.dagster.sensors import build_change_sensor, build_discovery_sensor
from lairs_etl.dagster.settings import LairsSettings
from lairs_etl.dagster.translator import LayersAssetData, LayersTranslator

__all__ = [
    "AtprotoResource",
    "LairsSettings",
    "LakeResource",
    "LayersAssetData",
    "LayersTranslator",
    "RepositoryResource",
    "actor_partitions",
    "build_change_sensor",
    "build_definitions",
    "build_discovery_sensor",
    "build_layers_asset_specs",
    "build_partitions",
    "build_refresh_schedule",
    "build_resources",
    "definitions_from_file",
    "layers_assets",
    "partition_key",
    "snapshot_asset",
    "tracked_collections",
]
