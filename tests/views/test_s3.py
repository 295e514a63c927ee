"""The lake on S3 (moto server): materialize, rebuild identically, and query through DuckDB."""

from __future__ import annotations

from pathlib import Path

import s3fs

from lairs_etl.views import MemorySource, build_warehouse, connect_warehouse, materialize, run_query
from tests.fixtures.s3 import S3Bucket
from tests.views import demo


def test_materialize_and_query_on_s3(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    lake = f"{s3_bucket.url}/lake"
    source = MemorySource("bafycommit", demo.source_records())
    summary = materialize(source, lake, storage_options=s3_bucket.storage_options)
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    keys = sorted(fs.find(lake))
    assert any("actor=did%3Aplc%3Aalice" in k for k in keys)
    before = {k: fs.cat_file(k) for k in keys}
    again = materialize(source, lake, storage_options=s3_bucket.storage_options)
    assert {k: fs.cat_file(k) for k in sorted(fs.find(lake))} == before
    assert again.files_removed == 0
    assert summary.files_written == again.files_written

    db = str(tmp_path / "warehouse.duckdb")
    built = build_warehouse(lake, db, s3_bucket.storage_options)
    assert built.records == 9
    rows = run_query(db, "SELECT count(*) AS n FROM tokens", s3_bucket.storage_options).to_pylist()
    assert rows == [{"n": 5}]
    with connect_warehouse(db, s3_bucket.storage_options) as con:
        found = con.execute("SELECT label FROM annotations WHERE anchor_kind = 'pageAnchor'").fetchall()
    assert found == [("FIG",)]


def test_warehouse_prefers_httpfs_only_where_it_loads(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    lake = f"{s3_bucket.url}/lake"
    materialize(
        MemorySource("bafycommit", demo.source_records()), lake, storage_options=s3_bucket.storage_options
    )
    db = str(tmp_path / "warehouse.duckdb")
    build_warehouse(lake, db, s3_bucket.storage_options, prefer_httpfs=True)
    with connect_warehouse(db, s3_bucket.storage_options, prefer_httpfs=True) as con:
        assert con.execute("SELECT count(*) FROM judgments").fetchall() == [(3,)]
