"""The reference validator (``@atproto/lexicon``), run once per batch in a Node process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lairs_etl.localpds.node import NodeEnv, ensure_node_env

__all__ = ["ReferenceVerdict", "reference_rate", "reference_verdicts"]

_SCRIPT = Path(__file__).with_name("validate.mjs")


@dataclass(frozen=True)
class ReferenceVerdict:
    valid: bool
    error: str | None


def reference_verdicts(
    records: Iterable[Mapping[str, Any]], lexicon_dir: Path, *, env: NodeEnv | None = None
) -> list[ReferenceVerdict]:
    """``Lexicons.assertValidRecord(jsonToLex(record))`` for each record, in order (one Node process)."""
    lines = "".join(json.dumps(record) + "\n" for record in records)
    stdout = _run(lines, lexicon_dir, env)
    verdicts = [ReferenceVerdict(**json.loads(line)) for line in stdout.splitlines()]
    expected = lines.count("\n")
    if len(verdicts) != expected:
        raise RuntimeError(f"reference validator answered {len(verdicts)} of {expected} records")
    return verdicts


def reference_rate(
    records: Sequence[Mapping[str, Any]], lexicon_dir: Path, *, cpu_seconds: float, env: NodeEnv | None = None
) -> float:
    """Records per CPU second of ``jsonToLex`` + ``assertValidRecord`` in Node (startup excluded)."""
    lines = "".join(json.dumps(record) + "\n" for record in records)
    report = json.loads(_run(lines, lexicon_dir, env, f"--bench={cpu_seconds}"))
    return float(report["records"]) / float(report["cpuSeconds"])


def _run(lines: str, lexicon_dir: Path, env: NodeEnv | None, *extra: str) -> str:
    env = env or ensure_node_env()
    proc = subprocess.run(
        [str(env.node), str(_SCRIPT), str(env.node_modules), str(lexicon_dir), *extra],
        input=lines,
        capture_output=True,
        text=True,
        env=env.env(),
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reference validator failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout
