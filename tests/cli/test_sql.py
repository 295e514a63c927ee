"""``lairs-etl sql``: queries on the warehouse in every output format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.views import MemorySource, build_warehouse, materialize
from tests.views import demo

_QUERY = (
    "SELECT label, anchor_kind FROM annotations WHERE did = 'did:plc:alice5ewvi7nxzyoun6zhx' ORDER BY label"
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("sql")
    materialize(MemorySource("bafycommit", demo.source_records()), str(root / "lake"))
    db = str(root / "w.duckdb")
    build_warehouse(str(root / "lake"), db)
    return db


def _labels() -> list[str]:
    (layer,) = [v for d, c, r, v in demo.records() if d == demo.ALICE and c == demo.LAYER]
    return sorted(a["label"] for a in layer["annotations"])


def test_json_lines(warehouse: str) -> None:
    result = CliRunner().invoke(main, ["sql", _QUERY, "--db", warehouse, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in rows] == _labels()


def test_csv_and_table(warehouse: str) -> None:
    result = CliRunner().invoke(main, ["sql", _QUERY, "--db", warehouse, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["label"] for r in rows] == _labels()
    result = CliRunner().invoke(main, ["sql", _QUERY, "--db", warehouse])
    assert result.exit_code == 0
    assert f"({len(_labels())} rows)" in result.stdout


def test_parquet_needs_out_and_writes_it(warehouse: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sql", _QUERY, "--db", warehouse, "--format", "parquet"])
    assert result.exit_code == 2
    out = tmp_path / "r.parquet"
    result = CliRunner().invoke(
        main, ["sql", _QUERY, "--db", warehouse, "--format", "parquet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("label").to_pylist() == _labels()


def test_bad_query_exits_1(warehouse: str) -> None:
    result = CliRunner().invoke(main, ["sql", "SELECT * FROM nowhere", "--db", warehouse])
    assert result.exit_code == 1
    assert "ViewsError" in result.stderr
