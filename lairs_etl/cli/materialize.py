"""``lairs-etl materialize --repo URL --rev REV --out URL``: Parquet views of a revision.

Writes the hive-partitioned lake (typed tables, exploded views, invalid records) of one
repository revision under any fsspec URL, without Dagster; ``--warehouse DB`` then
(re)builds the DuckDB warehouse over it. stdout gets one JSON summary (with the
warehouse's under ``"warehouse"``); a breaking schema change is listed in
``schema_changes`` and said on stderr. An actor whose views could not be written is
listed in ``failed`` (the others are written) and the exit status is 1; other errors
exit as :mod:`lairs_etl.cli._exit` maps them.
"""

from __future__ import annotations

import json
import sys

import click

from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.cli.lake import catalog_options, parse_catalog
from lairs_etl.cli.repo import open_repository, parse_storage_options, repo_options

__all__ = ["command"]


@click.command("materialize")
@repo_options
@click.option("--rev", default="main", show_default=True, help="Branch, tag or commit to materialize.")
@click.option(
    "--out",
    "lake_url",
    envvar="LAIRS_LAKE",
    required=True,
    metavar="URL",
    help="Lake location: a path, file://, memory:// or s3:// URL [env LAIRS_LAKE].",
)
@click.option(
    "--out-storage-options",
    "lake_options",
    envvar="LAIRS_LAKE_STORAGE_OPTIONS",
    default=None,
    metavar="JSON",
    help="fsspec options for --out (default: those of --repo) [env LAIRS_LAKE_STORAGE_OPTIONS].",
)
@click.option(
    "--actor",
    "dids",
    multiple=True,
    metavar="DID",
    help="Rewrite only these actors' partitions (repeatable). Default: every actor.",
)
@click.option(
    "--compression",
    default="zstd",
    show_default=True,
    type=click.Choice(["zstd", "snappy", "gzip", "brotli", "lz4", "none"]),
)
@click.option("--compression-level", type=int, default=3, show_default=True)
@click.option("--row-group-size", type=int, default=128 * 1024, show_default=True, help="Rows per row group.")
@click.option(
    "--warehouse",
    "db_path",
    default=None,
    metavar="FILE",
    help="Also (re)build the DuckDB warehouse FILE over the lake.",
)
@catalog_options
def command(  # noqa: PLR0917  # click passes every option by keyword
    repo_url: str,
    storage_options: str | None,
    rev: str,
    lake_url: str,
    lake_options: str | None,
    dids: tuple[str, ...],
    compression: str,
    compression_level: int,
    row_group_size: int,
    db_path: str | None,
    catalog: str | None,
    catalog_namespace: str | None,
) -> None:
    """Write the Parquet views of revision REV of the repository to --out."""
    from lairs_etl.views import RepositorySource, WriteOptions, build_warehouse, materialize

    options = parse_storage_options(lake_options if lake_options is not None else storage_options)
    source = RepositorySource(open_repository(repo_url, storage_options), rev)
    summary = materialize(
        source,
        lake_url,
        storage_options=options,
        dids=dids or None,
        options=WriteOptions(compression, compression_level, row_group_size),
        catalog=parse_catalog(catalog, catalog_namespace),
    )
    report = summary.to_json()
    if db_path is not None:
        report["warehouse"] = build_warehouse(lake_url, db_path, options).to_json()
    for change in summary.schema_changes:
        moved = "in place" if change.in_place else f"v{change.old_version} -> v{change.new_version}"
        click.echo(f"schema change: {change.table} {moved}: {change.reason}", err=True)
    for did, error in summary.failed:
        click.echo(f"failed: {did}: {type(error).__name__}: {error}", err=True)
    click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    if not summary.ok:
        sys.exit(EXIT_FAILED)
