"""The lake on S3 (moto server): materialize, rebuild identically, and query through DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest
import s3fs

from lairs_etl.errors import ConfigError
from lairs_etl.views import MemorySource, build_warehouse, connect_warehouse, materialize, run_query
from lairs_etl.views.duck import connect, extension_directory, load_extension
from lairs_etl.views.lakeaccess import attach_lake, s3_secret_params
from tests.fixtures.s3 import S3Bucket
from tests.views import demo
from tests.views.lake import lake_files


def test_materialize_and_query_on_s3(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    lake = f"{s3_bucket.url}/lake"
    source = MemorySource("bafycommit", demo.source_records())
    summary = materialize(source, lake, storage_options=s3_bucket.storage_options)
    before = lake_files(lake, s3_bucket.storage_options)
    assert any("actor=did%3Aplc%3Aalice" in k for k in before)
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    everything = {k: fs.cat_file(k) for k in fs.find(lake)}
    again = materialize(source, lake, storage_options=s3_bucket.storage_options)
    # the same revision again: same files, nothing written, no new snapshot
    assert {k: fs.cat_file(k) for k in fs.find(lake)} == everything
    assert (again.files_written, again.files_removed) == (0, 0)
    assert summary.files_written == len([k for k in before if k.endswith(".parquet")])

    db = str(tmp_path / "warehouse.duckdb")
    built = build_warehouse(lake, db, s3_bucket.storage_options)
    assert built.records == 9
    rows = run_query(db, "SELECT count(*) AS n FROM tokens", s3_bucket.storage_options).to_pylist()
    assert rows == [{"n": 5}]
    with connect_warehouse(db, s3_bucket.storage_options) as con:
        found = con.execute("SELECT label FROM annotations WHERE anchor_kind = 'pageAnchor'").fetchall()
    assert found == [("FIG",)]


def _all_rows(db: str, storage_options: dict[str, object] | None) -> dict[str, list[tuple[object, ...]]]:
    with connect_warehouse(db, storage_options) as con:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM lairs_tables ORDER BY 1").fetchall()]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


def test_s3_lake_reads_through_httpfs_with_the_rows_of_a_local_lake(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    source = MemorySource("bafycommit", demo.source_records())
    s3_lake = f"{s3_bucket.url}/lake"
    materialize(source, s3_lake, storage_options=s3_bucket.storage_options)
    materialize(source, str(tmp_path / "lake"))
    s3_db, local_db = str(tmp_path / "s3.duckdb"), str(tmp_path / "local.duckdb")
    build_warehouse(s3_lake, s3_db, s3_bucket.storage_options)
    build_warehouse(str(tmp_path / "lake"), local_db)

    with connect(":memory:") as con:
        assert attach_lake(con, s3_lake, s3_bucket.storage_options) == "httpfs"
        # DuckDB's own S3 client, not a registered Python filesystem
        secrets = con.execute("SELECT count(*) FROM duckdb_secrets() WHERE name = 'lairs_lake'")
        assert secrets.fetchone() == (1,)
    s3_rows = _all_rows(s3_db, s3_bucket.storage_options)
    local_rows = _all_rows(local_db, None)
    assert s3_rows.keys() == local_rows.keys()
    assert len(s3_rows) > 5
    for name, rows in local_rows.items():
        assert [_drop_paths(r) for r in s3_rows[name]] == [_drop_paths(r) for r in rows], name
    # nothing secret was stored in the warehouse file
    assert b"testing" not in Path(s3_db).read_bytes()


def _drop_paths(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(v for v in row if not (isinstance(v, str) and ("s3://" in v or "/lake/" in v)))


def test_s3_credentials_may_come_from_the_environment_alone(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = f"{s3_bucket.url}/lake"
    materialize(
        MemorySource("bafycommit", demo.source_records()), lake, storage_options=s3_bucket.storage_options
    )
    db = str(tmp_path / "warehouse.duckdb")
    endpoint = s3_bucket.storage_options["client_kwargs"]["endpoint_url"]  # type: ignore[index]
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(endpoint))
    build_warehouse(lake, db)  # no storage options: AWS_* variables only
    with connect_warehouse(db) as con:
        assert con.execute("SELECT count(*) FROM judgments").fetchall() == [(3,)]


def test_secret_parameters_keep_option_credentials_whole() -> None:
    env = {"AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "envtok"}
    params = s3_secret_params(
        {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "https://s3.example:9000"}}, env
    )
    assert params == {
        "KEY_ID": "'k'",
        "SECRET": "'s'",
        "ENDPOINT": "'s3.example:9000'",
        "URL_STYLE": "'path'",
        "USE_SSL": "true",
    }
    from_env = s3_secret_params({}, {**env, "AWS_REGION": "eu-west-3"})
    assert from_env == {
        "KEY_ID": "'envkey'",
        "SECRET": "'envsecret'",
        "SESSION_TOKEN": "'envtok'",
        "REGION": "'eu-west-3'",
    }
    assert s3_secret_params({"anon": True}, env) == {}
    assert s3_secret_params({"key": "it's"}, {})["KEY_ID"] == "'it''s'"
    with pytest.raises(ConfigError):
        s3_secret_params({"endpoint_url": "ftp://x"}, {})


def test_extensions_load_from_the_wheels_without_the_network() -> None:
    folder = extension_directory()
    assert folder is not None
    assert Path(folder).is_dir()
    with connect() as con:
        assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (False,)
        for name in ("httpfs", "iceberg"):
            load_extension(con, name)
        loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
        assert loaded["httpfs"]
        assert loaded["iceberg"]
        with pytest.raises(ConfigError, match="duckdb-ext-spatial"):
            load_extension(con, "spatial")
