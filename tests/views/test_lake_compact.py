"""``lake compact``: per-actor syncs pile up manifests; merging them changes no row any reader sees."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.views import MemorySource, SourceRecord, build_warehouse, iceberg, materialize, run_query
from lairs_etl.views.iceberg import COMMIT_PROPERTY, COMPACTED_PROPERTY, LakeCatalog
from lairs_etl.views.maintenance import compact_lake, expire_lake, tag_lake
from tests.views import demo

QUERY = "SELECT uri, text FROM expressions ORDER BY uri"


def _edit(records: list[SourceRecord], did: str, round_: int) -> list[SourceRecord]:
    """``did``'s expressions with new text: its partitions get new files."""
    out = []
    for record in records:
        if record.did == did and record.collection == demo.EXPR:
            assert record.value is not None
            value = {**record.value, "text": f"round {round_}"}
            record = dataclasses.replace(record, value=value)
        out.append(record)
    return out


def _manifests(lake: str) -> dict[str, int]:
    counts = {}
    for table in LakeCatalog(lake).all_tables():
        snapshot = table.current_snapshot()
        assert snapshot is not None
        counts[table.name()[-1]] = len(snapshot.manifests(table.io))
    return counts


def _rows(lake: str, db: Path, at: str | None = None) -> list[dict[str, object]]:
    build_warehouse(lake, str(db))
    rows: list[dict[str, object]] = run_query(str(db), QUERY, at=at).to_pylist()
    return rows


def test_compaction_leaves_one_manifest_per_table_and_every_reader_its_rows(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    records = list(demo.source_records())
    dids = sorted({r.did for r in records})
    materialize(MemorySource("bafy0", records), lake)
    tag_lake(lake, "start")
    start = _rows(lake, tmp_path / "start.duckdb", at="start")
    for round_ in range(1, 4):
        for did in dids:
            records = _edit(records, did, round_)
            materialize(MemorySource(f"bafy{round_}{did[-4:]}", records), lake, dids=[did])
    before = _manifests(lake)
    assert before["expressions__pub_layers_expression_expression"] > 3  # one per sync that touched it
    current = _rows(lake, tmp_path / "pinned.duckdb")  # a reader pinned to the snapshot before compaction

    result = CliRunner().invoke(main, ["lake", "compact", "--lake", lake])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tables_compacted"] == sum(1 for n in before.values() if n >= 2)
    assert summary["manifests_before"] == sum(before.values())
    after = _manifests(lake)
    assert set(after.values()) == {1}

    for table in LakeCatalog(lake).all_tables():
        snapshot = table.current_snapshot()
        assert snapshot is not None
        assert snapshot.summary is not None
        assert str(snapshot.summary[COMMIT_PROPERTY]).startswith("bafy")  # provenance kept
        if before[table.name()[-1]] >= 2:
            assert snapshot.summary[COMPACTED_PROPERTY] == "manifests"
    assert _rows(lake, tmp_path / "now.duckdb") == current
    assert (
        run_query(str(tmp_path / "pinned.duckdb"), QUERY).to_pylist() == current
    )  # old snapshot still reads
    assert _rows(lake, tmp_path / "start.duckdb", at="start") == start

    # A second compaction has nothing to do; the next sync commits on top of the merged snapshot.
    assert compact_lake(lake).tables_compacted == 0
    records = _edit(records, dids[0], 9)
    materialize(MemorySource("bafy9", records), lake, dids=[dids[0]])
    assert any(row["text"] == "round 9" for row in _rows(lake, tmp_path / "now.duckdb"))

    # Expiry drops the merged-away manifests; what the current snapshot and the tag read stays.
    expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert _rows(lake, tmp_path / "start.duckdb", at="start") == start
    assert any(row["text"] == "round 9" for row in _rows(lake, tmp_path / "now.duckdb"))


def test_commits_merge_manifests_by_themselves_once_they_pile_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(iceberg, "AUTO_COMPACT_MANIFESTS", 3)
    lake = str(tmp_path / "lake")
    records = list(demo.source_records())
    did = sorted({r.did for r in records})[0]
    materialize(MemorySource("bafy0", records), lake)
    seen = []
    for round_ in range(1, 9):
        records = _edit(records, did, round_)
        materialize(MemorySource(f"bafy{round_}", records), lake, dids=[did])
        seen.append(_manifests(lake)["expressions__pub_layers_expression_expression"])
    assert max(seen) <= 3
    assert 1 in seen  # merged at least once
    assert any(row["text"] == "round 8" for row in _rows(lake, tmp_path / "now.duckdb"))


def test_manifests_keep_only_the_statistics_readers_use(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    materialize(MemorySource("bafy0", demo.source_records()), lake)
    for table in LakeCatalog(lake).all_tables():
        did_id = table.schema().find_field("did").field_id
        for task in table.scan().plan_files():
            assert set(task.file.lower_bounds) == {did_id}  # the partition column's bounds only
            assert not task.file.column_sizes
            assert task.file.record_count > 0


def test_expire_with_a_lost_catalog_keeps_every_file_the_lake_reads(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    records = list(demo.source_records())
    materialize(MemorySource("bafy0", records), str(lake))
    did = sorted({r.did for r in records})[0]
    materialize(MemorySource("bafy1", _edit(records, did, 1)), str(lake), dids=[did])
    current = _rows(str(lake), tmp_path / "before.duckdb")
    files = {p for p in lake.rglob("*.parquet")}
    (lake / "_lairs_catalog.sqlite").unlink()  # lost (or another machine's, or a copy's)

    summary = expire_lake(str(lake), dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))

    assert summary.files_removed == 0  # this catalog knows nothing: nothing is judged orphaned
    assert {p for p in lake.rglob("*.parquet")} == files
    # The warehouse refresh (nothing stale) registers the current files in a new catalog.
    assert materialize(MemorySource("bafy1", _edit(records, did, 1)), str(lake), stale_only=True).ok
    assert _rows(str(lake), tmp_path / "after.duckdb") == current
