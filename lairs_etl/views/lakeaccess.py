"""Letting DuckDB read the lake wherever it is: local paths, or any fsspec store.

DuckDB reads local files itself. For ``s3://`` its ``httpfs`` extension is the usual
way, but DuckDB downloads extensions from its own site at ``INSTALL`` time and no
package index ships ``httpfs`` for this DuckDB release, so an offline machine cannot
count on it. :func:`attach_lake` therefore uses ``httpfs`` only where it is already
installed (``prefer_httpfs``) and otherwise registers the same fsspec filesystem the
materializer wrote with (``s3fs`` with the same ``storage_options``, or ``memory://``),
which DuckDB then uses for every path with that protocol.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import duckdb
import fsspec
from fsspec.utils import get_protocol

from lairs_etl.errors import ConfigError

__all__ = ["attach_lake", "lake_root", "sql_literal"]


def lake_root(lake_url: str) -> str:
    """The lake URL as DuckDB should see it: absolute local paths, other URLs as given."""
    if get_protocol(lake_url) in ("file", "local"):
        return os.path.abspath(lake_url.removeprefix("file://").removeprefix("local://")).rstrip("/")
    return lake_url.rstrip("/")


def attach_lake(
    con: duckdb.DuckDBPyConnection,
    lake_url: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    prefer_httpfs: bool = False,
) -> str:
    """Make ``lake_url`` readable on ``con``; returns ``"local"``, ``"httpfs"`` or ``"fsspec"``.

    Secrets in ``storage_options`` go into a temporary DuckDB secret (httpfs) or an
    in-memory filesystem object (fsspec), never into the database file.

    Raises:
        ConfigError: the lake's protocol has no fsspec implementation here.
    """
    protocol = get_protocol(lake_url)
    if protocol in ("file", "local"):
        return "local"
    options = dict(storage_options or {})
    if prefer_httpfs and protocol in ("s3", "s3a") and _httpfs_secret(con, options):
        return "httpfs"
    try:
        fs = fsspec.filesystem(protocol, **options)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"no filesystem for {lake_url!r}: {exc}") from exc
    con.register_filesystem(fs)
    return "fsspec"


def _httpfs_secret(con: duckdb.DuckDBPyConnection, options: Mapping[str, object]) -> bool:
    """Load httpfs and create a temporary S3 secret from s3fs-style options, if possible."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        return False
    params: dict[str, str] = {}
    for ours, theirs in (("key", "KEY_ID"), ("secret", "SECRET"), ("token", "SESSION_TOKEN")):
        if isinstance(options.get(ours), str):
            params[theirs] = str(options[ours])
    client = options.get("client_kwargs")
    endpoint = client.get("endpoint_url") if isinstance(client, Mapping) else None
    if isinstance(client, Mapping) and isinstance(client.get("region_name"), str):
        params["REGION"] = str(client["region_name"])
    if isinstance(endpoint, str):
        parts = urlsplit(endpoint)
        params.update(ENDPOINT=parts.netloc, URL_STYLE="path")
    clauses = [f"{name} {sql_literal(value)}" for name, value in params.items()]
    if isinstance(endpoint, str):
        clauses.append(f"USE_SSL {str(urlsplit(endpoint).scheme == 'https').lower()}")
    body = ", ".join(["TYPE s3", *(clauses or ["PROVIDER credential_chain"])])
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET lairs_lake ({body})")
    return True


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (DDL such as ``CREATE SECRET`` takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
