"""The project uses public Dagster API only: no import reaches into ``dagster._…``."""

from __future__ import annotations

import ast
from pathlib import Path

import lairs_etl

_ROOT = Path(lairs_etl.__file__).parent


def _private_dagster_imports(source: str, label: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, label)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0].startswith("dagster") and any(p.startswith("_") for p in parts[1:]):
                found.append(f"{label}:{getattr(node, 'lineno', 0)}: {name}")
    return found


def test_no_module_imports_private_dagster_api() -> None:
    found = [
        hit
        for path in sorted(_ROOT.rglob("*.py"))
        for hit in _private_dagster_imports(path.read_text(encoding="utf-8"), str(path.relative_to(_ROOT)))
    ]
    assert found == []


def test_the_check_sees_a_private_import() -> None:
    source = "from dagster._core.events import DagsterEventType\nimport dagster\nfrom dagster import asset\n"
    assert [hit.rsplit(": ", 1)[1] for hit in _private_dagster_imports(source, "sample.py")] == [
        "dagster._core.events",
        "dagster._core.events.DagsterEventType",
    ]
