"""The ``lairs-etl`` program itself: what it sets for its process before any command runs."""

from __future__ import annotations

import os
import subprocess
import sys

from lairs_etl import cli

_PROBE = """
from lairs_etl import cli
def main():
    import pyarrow as pa  # as the commands do: after the program has set up its process
    print(pa.default_memory_pool().backend_name)
cli.main = main
cli.run()
"""


def _allocator(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_the_program_allocates_arrow_memory_with_the_system_allocator() -> None:
    """Arrow's mimalloc keeps freed pages: the program's lake writes peak lower without it."""
    env = {k: v for k, v in os.environ.items() if k != cli.ARROW_POOL_VARIABLE}
    assert _allocator(env) == "system"


def test_an_allocator_named_in_the_environment_is_kept() -> None:
    env = {**os.environ, cli.ARROW_POOL_VARIABLE: "mimalloc"}
    assert _allocator(env) == "mimalloc"


def test_the_installed_program_is_run() -> None:
    """The console script calls :func:`cli.run`, not the bare click group."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "lairs-etl"]
    assert script.value == "lairs_etl.cli:run"


def test_every_mode_option_offers_exactly_the_fetch_modes() -> None:
    """The commands spell the modes out once (their imports stay light); the fetch API's type decides."""
    from typing import get_args

    import click

    from lairs_etl.atproto.fetch import FetchMode
    from lairs_etl.cli import main

    context = click.Context(main)
    offered = {}
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        for param in getattr(command, "params", ()):
            if param.name in {"mode", "fetch_mode"}:
                assert isinstance(param.type, click.Choice)
                offered[name] = tuple(param.type.choices)
    assert set(offered) == {"fetch", "pull", "sync"}
    assert set(offered.values()) == {get_args(FetchMode)}
