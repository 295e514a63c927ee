"""``lairs-etl lake tag|compact|expire --lake URL``: keep a lake's Iceberg tables.

``tag NAME`` names every table's current snapshot (with ``--repo``, NAME must be a
repository tag and the lake must have been written whole from its commit), so
``lairs-etl sql --at NAME`` and any Iceberg engine read the corpus as tagged; repository
tags reach the lake by themselves once it holds their commit, this is for other names.
``compact`` merges the manifests per-actor syncs pile up (one per commit), which every
reader opens. ``expire --older-than 7d`` drops older snapshots no tag holds and deletes
the files nothing references any more. Each prints one JSON document; exit status as
:mod:`lairs_etl.cli._exit` maps errors. ``--catalog`` (on ``materialize`` and ``sync``)
chooses the Iceberg catalog; these commands use the one the lake records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lairs_etl.cli.repo import open_repository, parse_storage_options
from lairs_etl.errors import ConfigError

if TYPE_CHECKING:
    from lairs_etl.views.catalogref import CatalogChoice

__all__ = ["catalog_options", "command", "lake_storage", "target_lake_options"]

_F = TypeVar("_F", bound=Callable[..., object])


def _lake_and_options(options_flag: str, options_help: str, lake_help: str) -> Callable[[_F], _F]:
    """``--lake`` and its fsspec options flag: one pair, spelled per command family."""

    def decorate(func: _F) -> _F:
        func = click.option(
            options_flag,
            envvar="LAIRS_LAKE_STORAGE_OPTIONS",
            default=None,
            metavar="JSON",
            help=f"{options_help} [env LAIRS_LAKE_STORAGE_OPTIONS].",
        )(func)
        return click.option(
            "--lake", "lake_url", envvar="LAIRS_LAKE", required=True, metavar="URL", help=lake_help
        )(func)

    return decorate


_lake_options = _lake_and_options(
    "--storage-options",
    "fsspec options for the lake (e.g. S3 endpoint)",
    "The lake: a path, memory:// or s3:// URL [env LAIRS_LAKE].",
)

target_lake_options = _lake_and_options(
    "--lake-storage-options",
    "fsspec options for --lake (default: those of --repo)",
    "Lake location: a path, file://, memory:// or s3:// URL [env LAIRS_LAKE].",
)
"""``--lake`` and ``--lake-storage-options``, for commands that write the lake beside the repository.

The command receives ``lake_url`` and ``lake_storage_options`` (JSON text or ``None``:
the repository's, see :func:`lake_storage`).
"""


def catalog_options(func: _F) -> _F:
    """``--catalog`` and ``--catalog-namespace``, passed on as one ``catalog`` argument.

    The command receives ``catalog``: a :class:`~lairs_etl.views.CatalogChoice`, or
    ``None`` to keep the catalog the lake records (its own SQLite file by default).
    """
    func = click.option(
        "--catalog-namespace",
        envvar="LAIRS_LAKE_CATALOG_NAMESPACE",
        default=None,
        metavar="NAME",
        help="Namespace of the lake's tables in --catalog [default: lairs; "
        "env LAIRS_LAKE_CATALOG_NAMESPACE].",
    )(func)
    return click.option(
        "--catalog",
        envvar="LAIRS_LAKE_CATALOG",
        default=None,
        metavar="URL|NAME",
        help="Register the lake's Iceberg tables in this catalog: a SQLAlchemy URL (no password) or a "
        "catalog named in pyiceberg's configuration (REST, Glue ...); recorded in the lake "
        "[default: the recorded one, else a SQLite file beside the lake; env LAIRS_LAKE_CATALOG].",
    )(func)


def lake_storage(lake_storage_options: str | None, repo_storage_options: str | None) -> dict[str, Any]:
    """The lake's fsspec options: its own when given, else the repository's.

    Raises:
        ConfigError: not a JSON object.
    """
    chosen = lake_storage_options if lake_storage_options is not None else repo_storage_options
    return parse_storage_options(chosen)


def parse_catalog(catalog: str | None, namespace: str | None) -> CatalogChoice | None:
    """The choice ``--catalog``/``--catalog-namespace`` make (``None``: keep the recorded one).

    Raises:
        ConfigError: a namespace without a catalog, a URL holding a password, a bad name.
    """
    from lairs_etl.views.catalogref import choose_catalog

    return choose_catalog(catalog, namespace)


@click.group("lake")
def command() -> None:
    """Tag, compact and expire a lake's Iceberg tables."""


@command.command("tag")
@click.argument("name")
@click.option(
    "--repo",
    "repo_url",
    default=None,
    metavar="URL",
    help="Check NAME against this repository's tag: the lake must be that commit's.",
)
@_lake_options
def tag_command(name: str, repo_url: str | None, lake_url: str, storage_options: str | None) -> None:
    """Tag every table's current snapshot NAME."""
    from lairs_etl.views.maintenance import tag_lake

    commit = None
    if repo_url is not None:
        tags = open_repository(repo_url, storage_options=None).tags()
        if name not in tags:
            raise ConfigError(f"the repository at {repo_url} has no tag {name!r} (lairs-etl repo tag)")
        commit = tags[name].encode()
    tagged = tag_lake(lake_url, name, parse_storage_options(storage_options), commit=commit)
    click.echo(json.dumps({"tag": name, "commit": commit, "tables": tagged}, indent=1))


@command.command("compact")
@click.option(
    "--min-manifests",
    default=2,
    show_default=True,
    type=click.IntRange(min=2),
    help="Only merge a table whose current snapshot has at least this many manifests.",
)
@_lake_options
def compact_command(min_manifests: int, lake_url: str, storage_options: str | None) -> None:
    """Merge each table's manifests, so readers open a few metadata files, not one per sync."""
    from lairs_etl.views.maintenance import compact_lake

    summary = compact_lake(lake_url, parse_storage_options(storage_options), min_manifests=min_manifests)
    click.echo(json.dumps(summary.to_json(), indent=1))


@command.command("expire")
@click.option(
    "--older-than",
    "older_than",
    default="7d",
    show_default=True,
    metavar="AGE",
    help="Expire snapshots and unreferenced files older than this: 7d, 12h or an ISO time.",
)
@_lake_options
def expire_command(older_than: str, lake_url: str, storage_options: str | None) -> None:
    """Expire snapshots no tag holds and delete the files nothing references."""
    from lairs_etl.views.maintenance import expire_lake
    from lairs_etl.views.retention import parse_age

    cutoff = parse_age(older_than, dt.datetime.now(dt.UTC))
    summary = expire_lake(lake_url, cutoff, parse_storage_options(storage_options))
    click.echo(json.dumps({"older_than": cutoff.isoformat(), **summary.to_json()}, indent=1))
