"""``lairs-etl demo`` end to end: its own PDS, a seeded corpus, a Dagster refresh, outputs in place."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.localpds import NodeEnv
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository

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
    records = list((workdir / "lake" / "records").rglob("*.parquet"))
    assert len(records) == 2 * len(record_types())
    diagnostics = pq.read_table(workdir / "lake" / "diagnostics").to_pylist()
    assert len({row["uri"] for row in diagnostics}) == 4
    with duckdb.connect(str(workdir / "lake" / "warehouse.duckdb"), read_only=True) as con:
        tables = {
            row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert tables
    for label in ("repository:", "parquet:", "diagnostics:", "warehouse:"):
        assert label in result.output
