"""The core never pays for Dagster: importing it leaves ``dagster`` out of ``sys.modules``."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "lairs_etl",
    "lairs_etl.atproto.fetch",
    "lairs_etl.records",
    "lairs_etl.repo.repository",
    "lairs_etl.sync",
    "lairs_etl.demo",
    "lairs_etl.cli",
]


def test_core_imports_do_not_import_dagster() -> None:
    code = "import sys\n" + "".join(f"import {m}\n" for m in CORE) + "print('dagster' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "lairs_etl.records" in imported  # the probe measured what it claims to
    assert not {name for name in imported if name == "dagster" or name.startswith("dagster.")}


def test_dagster_layer_imports_dagster() -> None:
    code = "import sys, lairs_etl.dagster; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
