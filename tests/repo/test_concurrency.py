"""Eight processes commit to one branch: every commit is in history or was told it lost.

Each writer retries after a conflict, so the ledger is: ``ok`` lines (must all be in the
final history), ``conflict`` lines (the losing commits: none may be in history), and
the history must contain nothing else but the initial commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lairs_etl.repo.fsck import fsck_refs
from lairs_etl.repo.layout import init_layout
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import open_storage

from ._helpers import commit_records, history, record

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 8
COMMITS = 3


def _run_writers(url: str, options: dict[str, object]) -> tuple[list[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.repo._writer", url, json.dumps(options), f"w{n}", str(COMMITS),
             "20"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for n in range(WRITERS)
    ]
    ok: list[str] = []
    lost: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        for line in out.splitlines():
            status, cid = line.split()
            (ok if status == "ok" else lost).append(cid)
    return ok, lost


def _check(url: str, options: dict[str, object]) -> None:
    storage = open_storage(url, options)
    init_layout(storage)
    initial, _ = commit_records(storage, [record(0)], did="did:plc:initial")
    ok, lost = _run_writers(url, options)
    head = Refs(storage).get("heads", "main")
    in_history = [c.cid.encode() for c in history(storage, head)]
    assert len(ok) == WRITERS * COMMITS
    assert sorted(in_history) == sorted([*ok, initial.cid.encode()])
    assert not set(lost) & set(in_history)
    report = fsck_refs(storage)
    assert report.ok, report.problems


@pytest.mark.slow
def test_eight_processes_on_local_disk(tmp_path: Path) -> None:
    _check(str(tmp_path / "repo"), {})


@pytest.mark.slow
@pytest.mark.s3
def test_eight_processes_on_s3(s3_bucket: tuple[str, dict[str, object]]) -> None:
    url, options = s3_bucket
    _check(f"{url}/repo", options)
