"""``lairs-etl demo`` end to end: its own PDS, a seeded corpus, a Dagster refresh, outputs in place."""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.localpds import NodeEnv
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from tests.views.lake import lake_files

pytestmark = [pytest.mark.pds, pytest.mark.slow]


def test_demo_leaves_repository_parquet_diagnostics_and_warehouse(tmp_path: Path, node_env: NodeEnv) -> None:
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        main,
        ["demo", "--dir", str(workdir), "--actors", "2", "--records-per-type", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "refresh run: succeeded" in result.output
    repo = Repository.open(str(workdir / "repo"))
    actors = repo.actors()
    assert len(actors) == 2
    assert sum(s.invalid_count or 0 for s in actors.values()) == 4  # two broken records per actor
    assert any(name.startswith("demo-") for name in repo.tags())
    # One lake layout: the typed tables hold each actor's valid records per collection,
    # the invalid dataset the broken ones with their diagnostics.
    current = lake_files(str(workdir / "lake"))  # the partition files the tables hold now
    invalid = [
        row
        for path in current
        if path.startswith("/invalid/")
        for row in pq.read_table(io.BytesIO(current[path])).to_pylist()
    ]
    assert len({row["uri"] for row in invalid}) == 4
    assert all(row["diagnostics"] for row in invalid)
    bad = {row["uri"] for row in invalid}
    stored = list(repo.iter_records())
    holding_valid = {(r.uri.did, r.uri.collection) for r in stored if str(r.uri) not in bad}
    records = [path for path in current if path.startswith("/records/")]
    assert len(records) == len(holding_valid)
    seeded = re.search(r"seeded the corpus (\S+) over 2 accounts \((\d+) records\)", result.output)
    assert seeded is not None, result.output
    assert len(stored) == 2 * len(record_types()) + int(seeded.group(2))
    # The corpus the demo tracks by its URI alone reached both accounts, and the closing
    # query printed labels with the exact text they cover, per split.
    assert "rounds of discovery and refresh" in result.output
    assert "東京" in result.output
    assert "Ada Lovelace" in result.output
    with duckdb.connect(str(workdir / "lake" / "warehouse.duckdb"), read_only=True) as con:
        tables = {
            row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert tables
    for label in ("repository:", "parquet:", "diagnostics:", "warehouse:"):
        assert label in result.output
