"""Write markers: a live writer's is left alone, a dead or long-silent writer's is an interrupted write."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import fsspec

from lairs_etl.views.journal import STALE_AFTER, WRITES_DIR, begin_write, end_write, interrupted_writes

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _marker(root: Path, name: str, **doc: object) -> None:
    (root / WRITES_DIR).mkdir(parents=True, exist_ok=True)
    (root / WRITES_DIR / name).write_text(json.dumps(doc), encoding="utf-8")


def test_a_write_under_way_is_not_interrupted_and_leaves_nothing_when_done(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    marker = begin_write(fs, str(tmp_path), "bafyone", now=NOW)
    assert interrupted_writes(fs, str(tmp_path), now=NOW) == []
    end_write(fs, [marker])
    assert not list((tmp_path / WRITES_DIR).glob("*"))


def test_a_write_of_this_process_that_raised_is_interrupted(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    marker = begin_write(fs, str(tmp_path), "bafyone", now=NOW)
    end_write(fs, [])  # the write raised before ending: its marker stays
    from lairs_etl.views import journal

    journal._ACTIVE.discard(marker)  # what the raising write's frame leaves behind
    assert [i.commit for i in interrupted_writes(fs, str(tmp_path), now=NOW)] == ["bafyone"]


def test_dead_stale_and_unreadable_markers_are_interrupted_live_ones_are_not(tmp_path: Path) -> None:
    import socket

    fs = fsspec.filesystem("file")
    here = socket.gethostname()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(finished.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = NOW.isoformat()
        _marker(tmp_path, "a.json", commit="dead", host=here, pid=dead_pid, started=started)
        _marker(tmp_path, "b.json", commit="live", host=here, pid=live.pid, started=started)
        old = (NOW - STALE_AFTER - dt.timedelta(minutes=1)).isoformat()
        _marker(tmp_path, "c.json", commit="elsewhere-old", host="other-host", pid=1, started=old)
        _marker(tmp_path, "d.json", commit="elsewhere-new", host="other-host", pid=1, started=started)
        (tmp_path / WRITES_DIR / "e.json").write_text('{"commit": "cut sh', encoding="utf-8")
        found = interrupted_writes(fs, str(tmp_path), now=NOW)
    finally:
        live.kill()
        live.wait()
    assert sorted(i.commit for i in found) == ["", "dead", "elsewhere-old"]
