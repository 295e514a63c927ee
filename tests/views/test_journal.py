"""Write markers: a live writer's is left alone, a dead or long-silent writer's is an interrupted write."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

from lairs_etl.errors import ViewsError
from lairs_etl.views import MemorySource, TableKey, materialize
from lairs_etl.views.iceberg import COMMIT_PROPERTY, LakeCatalog
from lairs_etl.views.journal import STALE_AFTER, WRITES_DIR, begin_write, end_write, interrupted_writes
from tests.views import demo

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


def test_a_write_that_raised_is_repaired_by_the_next_write_of_the_same_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = str(tmp_path / "lake")
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    real = LakeCatalog.commit
    calls = []

    def failing(self: LakeCatalog, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ViewsError("the store went away")  # one table committed, the rest not
        return real(self, *args, **kwargs)

    changed = [r for r in demo.source_records() if r.rkey != demo.source_records()[0].rkey]
    with monkeypatch.context() as patch:
        patch.setattr(LakeCatalog, "commit", failing)
        with pytest.raises(ViewsError, match="went away"):
            materialize(MemorySource("bafytwo", changed), lake)
    stopped = interrupted_writes(fsspec.filesystem("file"), lake)
    assert [i.commit for i in stopped] == ["bafytwo"]  # this process lives on, the write is over

    summary = materialize(MemorySource("bafyone", demo.source_records()), lake)
    assert summary.repaired == ("bafytwo",)
    assert interrupted_writes(fsspec.filesystem("file"), lake) == []
    commits = {
        (t.current_snapshot().summary or {}).get(COMMIT_PROPERTY)  # type: ignore[union-attr]
        for t in LakeCatalog(lake).all_tables()
    }
    assert commits == {"bafyone"}  # the table the failed write committed is back too


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
        _marker(tmp_path, "f.json", commit="reused-pid", host=here, pid=live.pid, started=old)
        _marker(tmp_path, "d.json", commit="elsewhere-new", host="other-host", pid=1, started=started)
        (tmp_path / WRITES_DIR / "e.json").write_text('{"commit": "cut sh', encoding="utf-8")
        found = interrupted_writes(fs, str(tmp_path), now=NOW)
    finally:
        live.kill()
        live.wait()
    assert sorted(i.commit for i in found) == ["", "dead", "elsewhere-old", "reused-pid"]


def test_a_table_only_the_interrupted_write_had_is_emptied_by_the_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lairs_etl.views.layout import table_name
    from tests.views.test_iceberg_kill import CORPUS, second_records

    lake = str(tmp_path / "lake")
    materialize(MemorySource("bafyone", demo.source_records()), lake)
    corpus_table = table_name(TableKey("records", CORPUS), 1)
    real = LakeCatalog.commit
    committed: list[str] = []

    def failing_after_corpus(self: LakeCatalog, key: TableKey, version: int, *args: Any) -> Any:
        if corpus_table in committed:
            raise ViewsError("the store went away")
        done = real(self, key, version, *args)
        committed.append(table_name(key, version))
        return done

    with monkeypatch.context() as patch:
        patch.setattr(LakeCatalog, "commit", failing_after_corpus)
        with pytest.raises(ViewsError, match="went away"):
            materialize(MemorySource("bafytwo", second_records(new_collection=True)), lake)
    assert corpus_table in LakeCatalog(lake).table_names()  # created by the write that failed

    summary = materialize(MemorySource("bafyone", demo.source_records()), lake)
    assert summary.repaired == ("bafytwo",)
    table = LakeCatalog(lake).load(TableKey("records", CORPUS), 1)
    assert table is not None
    assert table.scan().to_arrow().num_rows == 0  # the first commit has no corpus record
    assert len(table.metadata.snapshots) == 2  # its history kept: the failed write's, then empty
