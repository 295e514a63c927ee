"""The public surface of ``lairs_etl.publish``: sorted, complete, cheap for the CLI."""

from __future__ import annotations

import subprocess
import sys

import lairs_etl.publish as publish


def test_all_is_sorted_and_importable() -> None:
    assert publish.__all__ == sorted(publish.__all__)
    assert all(hasattr(publish, name) for name in publish.__all__)


def test_the_cli_help_does_not_import_the_publish_machinery() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from lairs_etl.cli import main; "
        "r = CliRunner().invoke(main, ['publish', '--help']); assert r.exit_code == 0, r.output; "
        "heavy = ('lairs_etl.publish', 'lairs_etl.repo', 'httpx'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
