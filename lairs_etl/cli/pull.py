"""``lairs-etl pull ACTOR... --repo URL``: fetch, verify, count validity and commit.

stdout gets one JSON summary (the head commit, the tag if made, each actor's outcome);
stderr one progress line per actor when pulling several. The repository is created if
it does not exist. Exit status 0 when every actor landed or was unchanged, 1 when one
failed, whatever the failure (the others are still committed and listed), or the
status of :mod:`lairs_etl.cli._exit` when the pull could not start.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.cli._network import Network, network_options
from lairs_etl.cli.repo import open_repository, repo_options

if TYPE_CHECKING:
    from lairs_etl.repo.pull import ActorPull, PullReport

__all__ = ["command"]


@click.command("pull")
@click.argument("actors", nargs=-1, required=True)
@repo_options
@click.option(
    "--collection", "collections", multiple=True, metavar="NSID",
    help="Collection NSID or namespace prefix (pub.layers.); repeatable. Default: the pub.layers. namespace.",
)
@click.option("--tag", default=None, metavar="NAME", help="Tag the resulting head with NAME.")
@click.option("--branch", default="main", show_default=True, help="Branch to commit to.")
@click.option("--full", is_flag=True, help="Fetch everything even when an incremental pull is possible.")
@click.option("--author", default="lairs-etl pull", show_default=True, help="Commit author.")
@network_options
def command(  # noqa: PLR0917  # click passes every option by keyword
    actors: tuple[str, ...],
    repo_url: str,
    storage_options: str | None,
    collections: tuple[str, ...],
    tag: str | None,
    branch: str,
    full: bool,
    author: str,
    network: Network,
) -> None:
    """Pull ACTORS (handles or DIDs) into the repository, one commit per changed actor."""
    report = _run(
        actors, repo_url, storage_options, collections=collections or None, tag=tag, branch=branch,
        incremental=not full, author=author, network=network,
    )
    click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _run(
    actors: tuple[str, ...],
    repo_url: str,
    storage_options: str | None,
    *,
    collections: tuple[str, ...] | None,
    tag: str | None,
    branch: str,
    incremental: bool,
    author: str,
    network: Network,
) -> PullReport:
    # Imported here so that ``lairs-etl --help`` does not pay for httpx and cryptography.
    from lairs_etl.repo.pull import pull

    repo = open_repository(repo_url, storage_options, create=True)
    total = len(actors)
    done = [0]

    def progress(outcome: ActorPull) -> None:
        done[0] += 1
        if total > 1:
            detail = outcome.error_type or f"{outcome.records} records"
            click.echo(f"[{done[0]}/{total}] {outcome.actor}: {outcome.status} ({detail})", err=True)

    with network.client() as client:
        resolver = network.resolver(client)
        return pull(
            repo, actors, client=client, resolver=resolver, collections=collections, branch=branch,
            author=author, tag=tag, incremental=incremental, progress=progress,
        )
