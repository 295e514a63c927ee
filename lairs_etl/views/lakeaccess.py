"""Letting DuckDB read the lake wherever it is: local paths, S3, or any fsspec store.

DuckDB reads local files itself, and S3 through its ``httpfs`` extension, loaded from
the ``duckdb-ext-httpfs`` wheel (see :mod:`.duck`): ranged GETs from DuckDB's own C++
client, with the credentials in a *temporary* secret (never in the warehouse file)
built from the lake's s3fs-style ``storage_options`` or, for what they leave out, the
standard ``AWS_*`` environment variables. Nothing else is consulted: no instance
metadata service, no shared config files, so no credential lookup leaves the machine
without being asked for. Any other store (``memory://``, or a protocol DuckDB does not
speak) is read through the same fsspec filesystem the materializer wrote with,
registered on the connection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import duckdb
import fsspec
from fsspec.utils import get_protocol

from lairs_etl.errors import ConfigError
from lairs_etl.views.duck import load_extension

__all__ = ["LakeAccess", "attach_lake", "s3_secret_params", "sql_literal"]

LakeAccess = Literal["local", "httpfs", "fsspec"]
_S3 = ("s3", "s3a")


def attach_lake(
    con: duckdb.DuckDBPyConnection, lake_url: str, storage_options: Mapping[str, object] | None = None
) -> LakeAccess:
    """Make ``lake_url`` readable on ``con``; says how (see the module docstring).

    Raises:
        ConfigError: the lake's protocol has no filesystem here, or ``httpfs`` is missing.
    """
    protocol = get_protocol(lake_url)
    if protocol in ("file", "local"):
        return "local"
    options = dict(storage_options or {})
    if protocol in _S3:
        load_extension(con, "httpfs")
        clauses = [f"{name} {value}" for name, value in s3_secret_params(options, os.environ).items()]
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET lairs_lake ({', '.join(['TYPE s3', *clauses])})")
        return "httpfs"
    try:
        fs = fsspec.filesystem(protocol, **options)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"no filesystem for {lake_url!r}: {exc}") from exc
    con.register_filesystem(fs)
    return "fsspec"


def s3_secret_params(options: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """DuckDB S3 secret parameters (already SQL literals) from s3fs options, then ``AWS_*`` variables.

    s3fs spells them ``key``, ``secret``, ``token``, ``endpoint_url`` and
    ``client_kwargs={"endpoint_url": …, "region_name": …}``; ``anon=True`` means no
    credentials at all.
    """
    client = options.get("client_kwargs")
    client = client if isinstance(client, Mapping) else {}

    def pick(option: object, *variables: str) -> str | None:
        if isinstance(option, str) and option:
            return option
        return next((environ[v] for v in variables if environ.get(v)), None)

    # Credentials come as a unit: a key from the options never meets a token from the environment.
    if options.get("anon") is True:
        credentials: dict[str, str | None] = {}
    elif isinstance(options.get("key"), str):
        credentials = {"KEY_ID": pick(options["key"]), "SECRET": pick(options.get("secret"))}
        credentials["SESSION_TOKEN"] = pick(options.get("token"))
    else:
        credentials = {
            "KEY_ID": pick(None, "AWS_ACCESS_KEY_ID"),
            "SECRET": pick(None, "AWS_SECRET_ACCESS_KEY"),
            "SESSION_TOKEN": pick(None, "AWS_SESSION_TOKEN"),
        }
    found = {**credentials, "REGION": pick(client.get("region_name"), "AWS_REGION", "AWS_DEFAULT_REGION")}
    params = {name: sql_literal(value) for name, value in found.items() if value is not None}
    endpoint = pick(
        options.get("endpoint_url") or client.get("endpoint_url"), "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"
    )
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"the S3 endpoint must be an http(s) URL, not {endpoint!r}")
        params.update(
            ENDPOINT=sql_literal(parts.netloc),
            URL_STYLE=sql_literal("path"),
            USE_SSL=str(parts.scheme == "https").lower(),
        )
    return params


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (DDL such as ``CREATE SECRET`` takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
