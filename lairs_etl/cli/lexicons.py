"""``lairs-etl lexicons``: pin and sync the Layers lexicon tree."""

from __future__ import annotations

import click

from lairs_etl._codegen import sync_lexicons

__all__ = ["command"]


@click.group(name="lexicons")
def command() -> None:
    """Manage the pinned Layers lexicon tree (lexicons/manifest.json, lexicons/cache/)."""


@command.command(name="sync")
@click.option(
    "--from",
    "source",
    metavar="PATH_OR_URL",
    help="A folder holding pub/layers (or pub/layers itself), or a .tar.gz/.zip file or URL. "
    "Default: the pinned revision's archive from the source repository.",
)
@click.option("--update", is_flag=True, help="Rewrite the pin to this tree instead of checking it.")
@click.option(
    "--archive-url",
    envvar="LAIRS_ETL_LEXICONS_ARCHIVE_URL",
    metavar="URL",
    help="Where to download the pinned archive from when --from is not given (a mirror).",
)
def sync(source: str | None, update: bool, archive_url: str | None) -> None:
    """Copy the lexicon tree into lexicons/cache/ after checking its hash against the pin."""
    summary = sync_lexicons(source, update=update, archive_url=archive_url)
    verb = "pinned" if update else "synced"
    counts = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in summary.counts().items())
    click.echo(f"{verb} lexicon tree sha256:{summary.sha256} ({counts})")
