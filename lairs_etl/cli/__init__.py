"""The ``lairs-etl`` command: one module per command group, loaded on first use.

Subcommands are imported lazily so that ``lairs-etl validate`` does not pay for
Dagster, pyarrow or DuckDB. Each module named here exposes a ``click`` command or
group called ``command``. Commands raise; the group prints a
:class:`~lairs_etl.errors.LairsError` as one ``error: Type: message`` line and exits
with the status :mod:`lairs_etl.cli._exit` maps it to (the one table of exit codes).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import click

from lairs_etl.cli._exit import exit_code
from lairs_etl.errors import LairsError, LexiconPinMismatch, PublishError

__all__ = ["main", "run"]

# name -> module under lairs_etl.cli that defines ``command``
_COMMANDS: dict[str, str] = {
    "demo": "demo",
    "fetch": "fetch",
    "follow": "follow",
    "gen": "gen",
    "lexicons": "lexicons",
    "materialize": "materialize",
    "publish": "publish",
    "pull": "pull",
    "repo": "repo",
    "lake": "lake",
    "resolve": "resolve",
    "sql": "sql",
    "sync": "sync",
    "validate": "validate",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _COMMANDS if _available(name))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LairsError as exc:
            click.echo(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", err=True)
            for line in _hints(exc):
                click.echo(line, err=True)
            ctx.exit(exit_code(exc))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(f"lairs_etl.cli.{_COMMANDS[cmd_name]}")
        command: click.Command = module.command
        return command


def _hints(exc: LairsError) -> list[str]:
    """What a user can do next, where the error type alone does not say it."""
    if isinstance(exc, LexiconPinMismatch):
        return [
            f"  expected sha256:{exc.expected}",
            f"  actual   sha256:{exc.actual}",
            "(re-run with --update to re-pin deliberately)",
        ]
    if isinstance(exc, PublishError) and exc.landed:
        return [f"{len(exc.landed)} writes landed before the failure; run the command again to finish"]
    limit = getattr(exc, "limit", None)
    if isinstance(limit, str):
        return [f"a budget ran out: raise it with --limit {limit}=VALUE only for a peer you trust"]
    return []


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"lairs_etl.cli.{_COMMANDS[name]}") is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lairs-etl")
def main() -> None:
    """Layers annotation corpora on ATProto: fetch, validate, version, query, publish."""


ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def run() -> None:
    """The ``lairs-etl`` program: process-wide settings, then :func:`main`.

    Arrow's default allocator (mimalloc) keeps the pages a lake write frees, so each
    table built after the first adds to the peak: a 100,000-record sync peaked at
    501-523 MiB with it and at 445 MiB with the system allocator, in the same time. The
    command owns its process, so it picks the system allocator unless the environment
    names one (Arrow reads the variable when it first allocates; the subprocesses the
    command starts, Dagster's included, inherit it).
    """
    os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
    main()
