"""Crash safety: a commit cut short after any number of writes leaves the previous head.

The property test simulates the crash by letting a storage wrapper die before its k-th
write; the kill -9 test does it for real to a process writing to local disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.repo.fsck import fsck_refs
from lairs_etl.repo.gc import collect_garbage
from lairs_etl.repo.layout import init_layout
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import Storage, open_storage

from ._helpers import CrashAfter, FaultyStorage, commit_records, history, objects_under, record

ROOT = Path(__file__).resolve().parents[2]


def _fresh_memory() -> Storage:
    import uuid

    storage = open_storage(f"memory://lairs-crash-{uuid.uuid4().hex}")
    init_layout(storage)
    return storage


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(st.integers(1, 40), min_size=0, max_size=6),
    size=st.integers(1, 60),
    budget=st.integers(0, 3),
)
def test_any_prefix_of_a_commit_leaves_the_previous_head(before: list[int], size: int, budget: int) -> None:
    storage = _fresh_memory()
    head = None
    for n, count in enumerate(before):
        _, head = commit_records(storage, [record(i, salt=f"b{n}-") for i in range(count)])
    faulty = FaultyStorage(storage, budget)
    with pytest.raises(CrashAfter):
        commit_records(faulty, [record(i, salt="crash-") for i in range(size)])
    # The crashed commit writes pack, index, packset, then the ref: 4 writes, all cut short.
    assert Refs(storage).find("heads", "main") == head
    report = fsck_refs(storage)
    assert report.ok, report.problems
    if head is not None:
        assert len(history(storage, head)) == len(before)
    # gc removes exactly the leftovers; the repository stays whole and writable.
    before_gc = objects_under(storage)
    gc = collect_garbage(storage, grace_seconds=0, now=time.time() + 1)
    assert set(gc.deleted) == before_gc - objects_under(storage)
    assert set(faulty.written) <= set(gc.deleted)
    assert fsck_refs(storage).ok
    _, new_head = commit_records(storage, [record(i, salt="retry-") for i in range(size)])
    assert len(history(storage, new_head)) == len(before) + 1
    assert fsck_refs(storage).ok


@settings(max_examples=15, deadline=None)
@given(budget=st.integers(0, 30))
def test_gc_cut_short_never_breaks_live_refs(budget: int) -> None:
    storage = _fresh_memory()
    for n in range(6):
        commit_records(storage, [record(i, salt=f"{n}-") for i in range(5)], branch=f"b{n % 2}")
    Refs(storage).delete("heads", "b1", expected=Refs(storage).get("heads", "b1"))
    with contextlib.suppress(CrashAfter):
        collect_garbage(FaultyStorage(storage, budget), grace_seconds=0, now=time.time() + 1)
    assert fsck_refs(storage).ok


@pytest.mark.slow
def test_kill_minus_nine_mid_commit_leaves_a_readable_repository(tmp_path: Path) -> None:
    url = str(tmp_path / "repo")
    init_layout(open_storage(url))
    reported: list[str] = []
    for delay in (0.05, 0.17, 0.29, 0.41):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.repo._writer", url, "{}", f"killed{delay}", "1000", "3000"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # one commit landed: now kill it mid-way through others
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        reported += [line.split()[1] for line in (first + out).splitlines() if line.startswith("ok ")]
        storage = open_storage(url)
        head = Refs(storage).find("heads", "main")
        report = fsck_refs(storage)
        assert report.ok, report.problems
        if head is not None:
            in_history = {c.cid.encode() for c in history(storage, head)}
            assert set(reported) <= in_history
            # at most one commit landed whose "ok" line the kill swallowed
            assert len(in_history) - len(reported) in (0, 1)
    assert len(reported) >= 4
    collect_garbage(open_storage(url), grace_seconds=0, now=time.time() + 1)
    assert fsck_refs(open_storage(url)).ok
