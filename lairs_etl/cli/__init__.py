"""The ``lairs-etl`` command: one module per command group, loaded on first use.

Subcommands are imported lazily so that ``lairs-etl validate`` does not pay for
Dagster, pyarrow or DuckDB. Each module named here exposes a ``click`` command or
group called ``command``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

__all__ = ["main"]

# name -> module under lairs_etl.cli that defines ``command``
_COMMANDS: dict[str, str] = {
    "demo": "demo",
    "fetch": "fetch",
    "gen": "gen",
    "lexicons": "lexicons",
    "materialize": "materialize",
    "publish": "publish",
    "pull": "pull",
    "repo": "repo",
    "resolve": "resolve",
    "sql": "sql",
    "validate": "validate",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(f"lairs_etl.cli.{_COMMANDS[cmd_name]}")
        command: click.Command = module.command
        return command


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"lairs_etl.cli.{_COMMANDS[name]}") is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lairs-etl")
def main() -> None:
    """Layers annotation corpora on ATProto: fetch, validate, version, query, publish."""
