"""``lairs-etl sql "SELECT …"``: query the DuckDB warehouse over the Parquet views.

The warehouse (``--db``, built by ``lairs-etl materialize --warehouse`` or the
``layers/warehouse`` asset) is opened read-only with its lake readable: ``--storage-options``
gives the lake's fsspec options (S3 credentials and endpoint) when they are not in the
environment. Output: an aligned ``table`` (default), ``csv``, ``json`` (JSON Lines) or
``parquet`` (needs ``--out``), to stdout or ``--out FILE``. ``--at TAG`` reads every
table as the lake's Iceberg tag holds it (``lairs-etl lake tag``). Exit status 0 on success,
1 when the query or the warehouse fails (:mod:`lairs_etl.cli._exit`).
"""

from __future__ import annotations

import sys

import click

from lairs_etl.cli.repo import parse_storage_options

__all__ = ["command"]


@click.command("sql")
@click.argument("query")
@click.option(
    "--db",
    "db_path",
    envvar="LAIRS_WAREHOUSE",
    default="warehouse.duckdb",
    show_default=True,
    metavar="FILE",
    help="The warehouse database [env LAIRS_WAREHOUSE].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out", "out_path", default=None, metavar="FILE", help="Write the result to FILE instead of stdout."
)
@click.option(
    "--storage-options",
    envvar="LAIRS_LAKE_STORAGE_OPTIONS",
    default=None,
    metavar="JSON",
    help="fsspec options for the lake (e.g. S3 endpoint) [env LAIRS_LAKE_STORAGE_OPTIONS].",
)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TAG",
    help="Read every table as the lake's tag TAG holds it (lairs-etl lake tag).",
)
def command(  # noqa: PLR0917  # click passes every option by keyword
    query: str, db_path: str, fmt: str, out_path: str | None, storage_options: str | None, at: str | None
) -> None:
    """Run QUERY on the warehouse and print the result."""
    from lairs_etl.views import render, run_query

    if fmt == "parquet" and out_path is None:
        raise click.UsageError("--format parquet needs --out FILE")
    data = render(run_query(db_path, query, parse_storage_options(storage_options), at=at), fmt)
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        with open(out_path, "wb") as handle:
            handle.write(data)
