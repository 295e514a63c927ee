"""The ``dagster.yaml`` this project's deployments, the demo and the tests use.

Dagster's own SQLite storage (``storage: sqlite``) under the instance's home, and
telemetry off. Only public, documented configuration: an earlier version subclassed
Dagster's private SQLite event log to batch writes, which the project's rule (public
Dagster API only) does not allow.
"""

from __future__ import annotations

import yaml

__all__ = ["instance_yaml"]


def instance_yaml(base_dir: str | None = None) -> str:
    """A ``dagster.yaml`` with SQLite storage under ``base_dir`` and telemetry off.

    Without ``base_dir`` the storage follows ``$DAGSTER_HOME`` (which must then be set,
    as for ``dagster dev``); with it, the file also works from ``DagsterInstance.from_config``.
    """
    config = {
        "storage": {"sqlite": {"base_dir": {"env": "DAGSTER_HOME"} if base_dir is None else base_dir}},
        "telemetry": {"enabled": False},
    }
    return str(yaml.safe_dump(config, sort_keys=False))
