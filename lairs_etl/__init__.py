"""lairs-etl: Layers annotation corpora on ATProto as dependable data engineering.

The core (``atproto`` → ``records`` → ``repo`` → ``views``/``publish``) works without
Dagster; ``lairs_etl.dagster`` is the thin Dagster layer on top.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lairs-etl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
