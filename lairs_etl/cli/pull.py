"""``lairs-etl pull ACTOR... --repo URL``: ``sync`` without the lake (fetch, verify, validate, commit).

The same engine and the same summary as ``lairs-etl sync`` (see :mod:`.sync`), stopping
after the commit. Exit status 0 when every actor landed or was unchanged, 1 when one
failed, whatever the failure (the others are still committed and listed), else as
:mod:`lairs_etl.cli._exit` maps the error that stopped the run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.cli.sync import run_sync, sync_options

__all__ = ["command"]


@click.command("pull")
@sync_options
def command(**kwargs: Any) -> None:
    """Pull ACTORS (handles or DIDs) into the repository: fetched, verified, validated, committed."""
    report = run_sync(**kwargs, lake=None)
    click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    if not report.ok:
        sys.exit(EXIT_FAILED)
