"""DuckDB connections that load their extensions from installed wheels, never the network.

DuckDB installs extensions by downloading them from its own site, which an offline or
locked-down machine cannot reach, and a warehouse that worked yesterday must not start
fetching code at query time. DuckDB's 1.4 LTS line ships ``httpfs`` (S3 and HTTP),
``iceberg`` and ``avro`` (which ``iceberg`` needs) as PyPI wheels (``duckdb-ext-*``),
dependencies of this package; they put the extension files under
``duckdb_ext/extensions/v<version>/<platform>/``, the layout DuckDB expects of an
``extension_directory``. Every connection lairs-etl opens points there, with automatic
installation off, so ``LOAD`` finds the wheel's file or fails with a clear error.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import duckdb

from lairs_etl.errors import ConfigError

__all__ = ["connect", "extension_directory", "load_extension"]

_PACKAGE = "duckdb_ext"


@cache
def extension_directory() -> str | None:
    """The ``extensions`` folder of the installed ``duckdb-ext-*`` wheels, if any is installed."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "extensions"
        if folder.is_dir():
            return str(folder)
    return None


def connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose extensions come from the wheels only (see the module docstring).

    Raises:
        duckdb.Error: DuckDB cannot open ``database`` (callers translate it).
    """
    config: dict[str, str | bool | int | float | list[str]] = {"autoinstall_known_extensions": False}
    folder = extension_directory()
    if folder is not None:
        config["extension_directory"] = folder
    return duckdb.connect(database, read_only=read_only, config=config)


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """``LOAD name`` from the wheel's folder.

    Raises:
        ConfigError: the extension's wheel is missing or does not match this DuckDB.
    """
    if not name.isidentifier():
        raise ConfigError(f"not an extension name: {name!r}")
    try:
        con.execute(f"LOAD {name}")
    except duckdb.Error as exc:
        raise ConfigError(
            f"DuckDB extension {name!r} cannot be loaded (lairs-etl needs DuckDB {duckdb.__version__} "
            f"with the matching duckdb-ext-{name} wheel; reinstall lairs-etl): {exc}"
        ) from exc
