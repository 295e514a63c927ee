"""A lake registered in a real PostgreSQL Iceberg catalog: the shared-lake deployment.

The catalog URL carries no password (it is recorded in the lake in clear); libpq reads
``PGPASSWORD``, as the README tells a deployment to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lairs_etl.views import (
    CatalogChoice,
    MemorySource,
    build_warehouse,
    materialize,
    read_manifest,
    run_query,
)
from lairs_etl.views.catalogref import CATALOG_RECORD
from lairs_etl.views.iceberg import CATALOG_FILE, COMMIT_PROPERTY
from lairs_etl.views.maintenance import tag_lake
from tests.fixtures.postgres import PostgresServer
from tests.views import demo

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

QUERY = "SELECT did, count(*) AS n FROM expressions GROUP BY did ORDER BY did"

_WRITER = """
import sys
from lairs_etl.views import CatalogChoice, MemorySource, materialize
from tests.views import demo
choice = CatalogChoice(sys.argv[3], "shared")
source = MemorySource("bafyone", demo.source_records())
summary = materialize(source, sys.argv[1], dids=[sys.argv[2]], catalog=choice)
assert summary.ok, summary.failed
"""


@pytest.fixture
def catalog_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return postgres_server.sqlalchemy_url(postgres_server.database("iceberg"))


def _rows(lake: str, db: Path, at: str | None = None) -> list[dict[str, object]]:
    build_warehouse(lake, str(db))
    return run_query(str(db), QUERY, at=at).to_pylist()


def test_the_lake_lives_in_postgres_and_reads_back_like_a_local_catalog(
    catalog_url: str, tmp_path: Path
) -> None:
    lake, plain = str(tmp_path / "lake"), str(tmp_path / "plain")
    materialize(
        MemorySource("bafyone", demo.source_records()), lake, catalog=CatalogChoice(catalog_url, "corpus")
    )
    materialize(MemorySource("bafyone", demo.source_records()), plain)

    assert not (tmp_path / "lake" / CATALOG_FILE).exists()
    assert json.loads((tmp_path / "lake" / CATALOG_RECORD).read_text())["catalog"] == catalog_url
    assert _rows(lake, tmp_path / "w.duckdb") == _rows(plain, tmp_path / "p.duckdb") != []
    first = _rows(lake, tmp_path / "w.duckdb")
    assert tag_lake(lake, "v1")

    # A second sync drops one expression; the tag still reads the first, from PostgreSQL.
    kept = [r for r in demo.source_records() if r.rkey != demo.source_records()[0].rkey]
    materialize(MemorySource("bafytwo", kept), lake)
    assert _rows(lake, tmp_path / "w.duckdb", at="v1") == first
    assert sum(int(r["n"]) for r in _rows(lake, tmp_path / "w.duckdb")) == sum(int(r["n"]) for r in first) - 1
    catalog = SqlCatalog("lairs", uri=catalog_url)  # the name lairs-etl opens a URL catalog under
    commits = {
        snapshot.summary[COMMIT_PROPERTY]
        for _, name in catalog.list_tables("corpus")
        for snapshot in catalog.load_table(("corpus", name)).metadata.snapshots
        if snapshot.summary is not None and COMMIT_PROPERTY in snapshot.summary
    }
    assert {"bafyone", "bafytwo"} <= commits


def test_two_processes_write_different_actors_through_postgres_and_both_land(
    catalog_url: str, tmp_path: Path
) -> None:
    lake, plain = str(tmp_path / "lake"), str(tmp_path / "plain")
    root = str(Path(__file__).resolve().parents[2])
    runs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, lake, did, catalog_url], cwd=root)
        for did in (demo.ALICE, demo.BOB)
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    materialize(MemorySource("bafyone", demo.source_records()), plain)
    manifest = read_manifest(lake)
    assert manifest is not None
    # Both writers' actors are in every table, as a single writer of both would leave them.
    assert _rows(lake, tmp_path / "w.duckdb") == _rows(plain, tmp_path / "p.duckdb")
    assert {r["did"] for r in _rows(lake, tmp_path / "w.duckdb")} == {demo.ALICE, demo.BOB}
