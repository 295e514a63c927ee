"""The DuckDB warehouse: views over the lake, dashboard tables, refresh history, queries."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pyarrow as pa
import pytest

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views import MemorySource, build_warehouse, connect_warehouse, materialize, render, run_query
from tests.views import demo


@pytest.fixture
def built(tmp_path: Path) -> tuple[str, str]:
    lake = f"memory://views-{secrets.token_hex(6)}/lake"
    materialize(MemorySource("bafycommit", demo.source_records()), lake)
    db = str(tmp_path / "warehouse.duckdb")
    build_warehouse(lake, db)
    return lake, db


def _direct_annotation_count() -> int:
    return sum(
        len(v["annotations"]) for _, c, r, v in demo.records() if c == demo.LAYER and r != "3kbad0000000a"
    )


def test_views_answer_like_the_records(built: tuple[str, str]) -> None:
    _, db = built
    table = run_query(db, "SELECT count(*) AS n, count(DISTINCT did) AS actors FROM annotations")
    assert table.to_pylist() == [{"n": _direct_annotation_count(), "actors": 2}]
    kinds = run_query(
        db, "SELECT anchor_kind, count(*) AS n FROM annotations GROUP BY 1 ORDER BY 1 NULLS LAST"
    )
    anchorless = sum(
        1
        for _, c, r, v in demo.records()
        if c == demo.LAYER and r != "3kbad0000000a"
        for a in v["annotations"]
        if "anchor" not in a
    )
    assert kinds.to_pylist()[-1] == {"anchor_kind": None, "n": anchorless}
    rows = run_query(
        db,
        "SELECT count(*) AS n FROM pub_layers_expression_expression WHERE collection = "
        "'pub.layers.expression.expression'",
    ).to_pylist()
    assert rows == [{"n": 5}]
    chain = run_query(db, "SELECT depth FROM expressions WHERE rkey = '3ksen0000000a'").to_pylist()
    assert chain == [{"depth": 2}]


def test_summary_tables_and_history(built: tuple[str, str]) -> None:
    lake, db = built
    summary = build_warehouse(lake, db)
    assert (summary.records, summary.invalid_records, summary.actors) == (9, 1, 2)
    assert summary.bytes == sum(r.size for r in demo.source_records())
    stats = run_query(
        db,
        "SELECT did, collection, records, invalid_records, bytes FROM lairs_actor_collection_stats "
        "WHERE collection = 'pub.layers.annotation.annotationLayer' ORDER BY did",
    ).to_pylist()
    assert [(s["records"], s["invalid_records"]) for s in stats] == [(1, 0), (1, 1)]
    history = run_query(db, "SELECT commit, records FROM lairs_refresh_history").to_pylist()
    assert history == [{"commit": "bafycommit", "records": 9}] * 2
    assert summary.table_rows["annotations"] == _direct_annotation_count()
    numbers = summary.numbers()
    assert numbers["records"] == 9
    assert numbers["rows.annotations"] == _direct_annotation_count()


def test_record_types_without_records_are_empty_tables(built: tuple[str, str]) -> None:
    _, db = built
    table = run_query(db, "SELECT * FROM pub_layers_ontology_ontology")
    assert table.num_rows == 0
    assert "collection" in table.column_names  # as in the views of tables with rows
    assert "uri" in table.column_names


def test_errors_are_typed(tmp_path: Path, built: tuple[str, str]) -> None:
    _, db = built
    with pytest.raises(ViewsError):
        run_query(db, "SELECT * FROM no_such_table")
    with pytest.raises(ViewsError):
        connect_warehouse(str(tmp_path / "missing.duckdb"))
    with pytest.raises(ViewsError):
        build_warehouse(f"memory://empty-{secrets.token_hex(4)}", str(tmp_path / "w.duckdb"))


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_render_formats(fmt: str) -> None:
    table = pa.table({"a": [1, None], "b": [["x"], []], "c": ["p", "q\nr"]})
    data = render(table, fmt)
    if fmt == "json":
        assert [json.loads(line) for line in data.decode().splitlines()] == table.to_pylist()
    elif fmt == "csv":
        assert data.decode().splitlines()[0] == "a,b,c"
    elif fmt == "table":
        assert "(2 rows)" in data.decode()
    else:
        assert data[:4] == b"PAR1"
    with pytest.raises(ConfigError):
        render(table, "xml")
