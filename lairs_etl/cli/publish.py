"""``lairs-etl publish``: show (default) or apply the writes that publish a revision.

Without ``--apply`` nothing is written and no password is needed: the plan is printed
on stdout. With ``--apply`` the app password is read from an environment variable
(``--password-env``, default ``LAIRS_APP_PASSWORD``), never from a flag, so it cannot
land in shell history or process listings; progress goes to stderr, then a JSON
summary to stdout. A failure exits with status 1 (see :mod:`lairs_etl.cli._exit`) after
saying how many writes landed; running the same command again finishes the job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from lairs_etl.cli._network import Network, network_options

if TYPE_CHECKING:
    from lairs_etl.publish import Plan, Progress, PublishReport

__all__ = ["command"]


@click.command("publish")
@click.option(
    "--repo", "repo_url", required=True, metavar="URL", help="The local repository (path or fsspec URL)."
)
@click.option("--rev", required=True, metavar="REV", help="Branch, tag or commit CID to publish.")
@click.option("--as", "actor", required=True, metavar="HANDLE_OR_DID", help="Whose PDS to write (yours).")
@click.option(
    "--apply", "apply_", is_flag=True, default=False, help="Write. Without it: dry run, show the plan."
)
@click.option(
    "--password-env",
    default="LAIRS_APP_PASSWORD",
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the app password (used only with --apply).",
)
@click.option(
    "--max-wait",
    default=24 * 3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Total time to wait for rate-limit resets before stopping (a re-run resumes).",
)
@click.option("--plan-lines", default=50, show_default=True, help="Plan lines to show (0: all).")
@network_options
def command(  # noqa: PLR0917  # click passes every option by keyword
    repo_url: str,
    rev: str,
    actor: str,
    apply_: bool,
    password_env: str,
    max_wait: float,
    plan_lines: int,
    network: Network,
) -> None:
    """Publish revision REV of a repository to your own PDS (a dry run unless --apply)."""
    from lairs_etl.publish import PublishOptions, format_plan, publish
    from lairs_etl.repo.repository import Repository

    shown: list[bool] = []

    def on_plan(plan: Plan) -> None:
        if not shown:  # later plans (after a swap conflict) only go to stderr
            click.echo(format_plan(plan, limit=plan_lines or None))
            shown.append(True)
        elif apply_:
            click.echo(f"re-planned: {plan.summary()}", err=True)

    def on_call(progress: Progress) -> None:
        click.echo(f"applyWrites #{progress.calls}: {len(progress.landed)} writes landed", err=True)

    repo = Repository.open(repo_url)
    with network.client() as client:
        report = publish(
            repo,
            rev,
            actor,
            apply=apply_,
            client=client,
            resolver=network.resolver(client),
            password_env=password_env,
            options=PublishOptions(on_plan=on_plan, on_call=on_call, rate_limit_wait=max_wait),
        )
    _finish(report, apply_)


def _finish(report: PublishReport, applied: bool) -> None:
    if not applied:
        if not report.plan.empty:
            click.echo("dry run: nothing written (add --apply to write)", err=True)
        return
    click.echo(json.dumps(report.summary(), sort_keys=True))
