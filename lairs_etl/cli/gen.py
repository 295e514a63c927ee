"""``lairs-etl gen``: generate the pydantic models from the synced lexicon tree."""

from __future__ import annotations

from pathlib import Path

import click

from lairs_etl._codegen import check_generated, synced_tree, write_generated

__all__ = ["command"]


@click.command(name="gen")
@click.option("--check", is_flag=True, help="Exit non-zero if the committed models differ from the tree's.")
@click.option(
    "--tree",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Tree root holding pub/layers (default: the synced lexicons/cache).",
)
def command(check: bool, tree: Path | None) -> None:
    """Generate lairs_etl/records/_generated/ from the lexicon tree."""
    root = tree or synced_tree()
    drift = check_generated(root) if check else write_generated(root)
    if check and drift:
        raise click.ClickException(
            f"generated models are out of date ({', '.join(drift)}): run `lairs-etl gen`"
        )
    if check:
        click.echo("generated models are up to date")
    else:
        click.echo(f"regenerated {len(drift)} file(s)" if drift else "generated models already up to date")
