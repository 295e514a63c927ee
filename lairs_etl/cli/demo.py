"""``lairs-etl demo``: seed a local PDS and refresh it through Dagster, end to end."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command("demo")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path(".lairs/demo"),
    show_default=True,
    help="Folder for the repository, lake, settings and DAGSTER_HOME.",
)
@click.option("--actors", type=click.IntRange(1), default=3, show_default=True)
@click.option("--records-per-type", type=click.IntRange(1), default=2, show_default=True)
@click.option("--invalid-per-actor", type=click.IntRange(0), default=2, show_default=True)
@click.option("--serve", is_flag=True, help="Keep the PDS up and start the Dagster UI on the demo.")
def command(workdir: Path, actors: int, records_per_type: int, invalid_per_actor: int, serve: bool) -> None:
    """Start a local PDS, seed a Layers corpus, discover and refresh it through Dagster."""
    from lairs_etl.demo.runner import run_demo

    report = run_demo(
        workdir.resolve(),
        actors=actors,
        records_per_type=records_per_type,
        invalid_per_actor=invalid_per_actor,
        serve=serve,
        echo=click.echo,
    )
    if not report.run_ok:
        raise click.ClickException("the refresh run failed; see the Dagster logs above")
