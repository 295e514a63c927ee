"""The ``dg`` Component: a Layers deployment declared in ``defs.yaml``.

The YAML attributes are the sections of ``lairs.yaml``; the partitions (dynamic actors x
static collections) are built in Python by :func:`build_definitions`, since Component
YAML cannot express a multi-dimensional dynamic partitions definition::

    type: lairs_etl.dagster.components.LayersComponent
    attributes:
      repository: {url: data/repo}
      lake: {url: data/lake}
      discovery: {seeds: [alice.example.com]}

No ``from __future__ import annotations``: Dagster resolves the field annotations.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from lairs_etl.dagster.definitions import build_definitions
from lairs_etl.dagster.settings import LairsSettings

__all__ = ["LayersComponent"]


class LayersComponent(dg.Component, dg.Resolvable, dg.Model):
    """Layers assets, checks, sensors, schedule and resources from YAML attributes."""

    repository: dict[str, Any] = Field(
        description="Repository location: url, storage_options, key, secret, endpoint_url, branch."
    )
    lake: dict[str, Any] = Field(
        description="Lake location (Iceberg tables): url, storage_options, key, secret, endpoint_url, "
        "catalog, catalog_namespace."
    )
    collections: list[str] | None = Field(default=None, description="Tracked NSIDs (default: all).")
    atproto: dict[str, Any] = Field(
        default_factory=dict, description="PLC/relay URLs, host switches, concurrency, timeouts, limits."
    )
    discovery: dict[str, Any] = Field(default_factory=dict, description="Seeds, PDS hosts, relay use.")
    refresh: dict[str, Any] = Field(default_factory=dict, description="Cron, fetch mode, thresholds.")
    maintenance: dict[str, Any] = Field(
        default_factory=dict, description="Lake maintenance: cron, expire_older_than (7d), compact."
    )
    corpora: list[str] = Field(
        default_factory=list, description="AT-URIs of corpus records kept fresh with every actor they reach."
    )
    media: dict[str, Any] = Field(default_factory=dict, description="Blobs: fetch, max_bytes, mime.")
    firehose: dict[str, Any] = Field(
        default_factory=dict, description="Following the verified firehose: follow, relay_url, discover."
    )

    def settings(self, base: Path | None = None) -> LairsSettings:
        """The attributes as validated settings (relative paths against ``base``).

        Each settings section is an attribute of the same name, checked by the settings'
        own models (a test keeps the two lists equal).
        """
        settings = LairsSettings.model_validate(
            {name: getattr(self, name) for name in LairsSettings.model_fields}
        )
        return settings if base is None else settings.relative_to(base)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The deployment's definitions (see :func:`build_definitions`)."""
        return build_definitions(self.settings(Path(context.path)))
