"""A lake registered in a catalog the user chose: a shared SQL catalog, a pyiceberg-named one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyiceberg.catalog.sql import SqlCatalog

from lairs_etl.cli import main
from lairs_etl.errors import ConfigError
from lairs_etl.repo.repository import Repository
from lairs_etl.views import (
    CatalogChoice,
    MemorySource,
    RepositorySource,
    build_warehouse,
    materialize,
    run_query,
)
from lairs_etl.views.catalogref import CATALOG_RECORD
from lairs_etl.views.iceberg import CATALOG_FILE, COMMIT_PROPERTY
from lairs_etl.views.maintenance import expire_lake, tag_lake
from tests.views import demo
from tests.views.repo_fixture import demo_repository

QUERY = "SELECT count(*) AS n FROM expressions"


def _count(lake: str, db: Path, at: str | None = None) -> int:
    build_warehouse(lake, str(db))
    rows = run_query(str(db), QUERY, at=at).to_pylist()
    return int(rows[0]["n"])


def _tables(uri: str, namespace: str, name: str = "lairs") -> dict[str, str]:
    """Table name → location, as anyone reading the shared catalog (named ``name``) sees them."""
    catalog = SqlCatalog(name, uri=uri)
    return {
        name: catalog.load_table((namespace, name)).location() for _, name in catalog.list_tables(namespace)
    }


def test_a_named_pyiceberg_catalog_holds_the_tables_and_every_reader_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = f"sqlite:///{tmp_path}/shared.sqlite"
    monkeypatch.setenv("PYICEBERG_CATALOG__TEAM__TYPE", "sql")
    monkeypatch.setenv("PYICEBERG_CATALOG__TEAM__URI", shared)
    lake, plain = str(tmp_path / "lake"), str(tmp_path / "plain")
    choice = CatalogChoice("team", "corpus_a")
    materialize(MemorySource("bafyone", demo.source_records()), lake, catalog=choice)
    materialize(MemorySource("bafyone", demo.source_records()), plain)

    assert not (tmp_path / "lake" / CATALOG_FILE).exists()  # nothing beside the lake
    assert json.loads((tmp_path / "lake" / CATALOG_RECORD).read_text()) == {
        "catalog": "team",
        "namespace": "corpus_a",
    }
    tables = _tables(shared, "corpus_a", "team")
    assert tables
    assert all(loc.startswith(f"file://{tmp_path}/lake/") for loc in tables.values())
    # The warehouse is not told the catalog: it reads it from the lake, same rows as a plain lake.
    assert _count(lake, tmp_path / "w.duckdb") == _count(plain, tmp_path / "p.duckdb") > 0

    # A later write that names no catalog keeps registering in the recorded one.
    kept = [r for r in demo.source_records() if r.rkey != demo.source_records()[0].rkey]
    materialize(MemorySource("bafytwo", kept), lake)
    assert not (tmp_path / "lake" / CATALOG_FILE).exists()
    catalog = SqlCatalog("team", uri=shared)
    commits = {
        s.summary[COMMIT_PROPERTY] if s.summary is not None else None
        for name in tables
        for s in catalog.load_table(("corpus_a", name)).metadata.snapshots
    }
    assert {"bafyone", "bafytwo"} <= commits

    # tag and expire go through the recorded catalog too.
    now = _count(lake, tmp_path / "w.duckdb")
    assert now == _count(plain, tmp_path / "p.duckdb") - 1  # the second write dropped one expression
    assert tag_lake(lake, "second")
    summary = expire_lake(lake, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert summary.snapshots_expired > 0  # the first write's snapshots, in the named catalog
    assert _count(lake, tmp_path / "w.duckdb") == now
    assert _count(lake, tmp_path / "w.duckdb", at="second") == now


def test_two_lakes_share_a_catalog_in_their_own_namespaces_and_never_take_each_others_tables(
    tmp_path: Path,
) -> None:
    shared = f"sqlite:///{tmp_path}/shared.sqlite"
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    materialize(MemorySource("bafyone", demo.source_records()), one, catalog=CatalogChoice(shared, "one"))
    materialize(MemorySource("bafyone", demo.source_records()), two, catalog=CatalogChoice(shared, "two"))
    before = _tables(shared, "one")
    assert set(before) == set(_tables(shared, "two"))

    with pytest.raises(ConfigError, match="belongs to the lake"):
        materialize(MemorySource("bafyone", demo.source_records()), two, catalog=CatalogChoice(shared, "one"))
    assert _tables(shared, "one") == before  # the other lake's tables untouched
    assert _count(one, tmp_path / "w.duckdb") > 0


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("postgresql://lairs:hunter2@db.example/iceberg", "password"),
        ("no such catalog!", "not a catalog"),
    ],
)
def test_an_unusable_catalog_is_refused_before_anything_is_written(
    tmp_path: Path, spec: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        CatalogChoice(spec)


def test_a_catalog_name_pyiceberg_does_not_know_is_a_config_error_and_records_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with pytest.raises(ConfigError, match="PYICEBERG_CATALOG__NOWHERE"):
        materialize(
            MemorySource("bafyone", demo.source_records()), str(lake), catalog=CatalogChoice("nowhere")
        )
    assert not (lake / CATALOG_RECORD).exists()
    materialize(MemorySource("bafyone", demo.source_records()), str(lake))  # the default still works
    assert (lake / CATALOG_FILE).exists()


def test_the_cli_registers_where_catalog_says(tmp_path: Path) -> None:
    repo_url, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    head = demo_repository(repo_url)
    shared = f"sqlite:///{tmp_path}/team.sqlite"
    result = CliRunner().invoke(
        main,
        ["materialize", "--repo", repo_url, "--out", lake, "--catalog", shared, "--catalog-namespace", "lab"],
    )
    assert result.exit_code == 0, result.stderr
    assert _tables(shared, "lab")
    assert not (tmp_path / "lake" / CATALOG_FILE).exists()
    direct = materialize(RepositorySource(Repository.open(repo_url), head), str(tmp_path / "plain"))
    expressions = sum(e.rows for e in direct.manifest.tables if e.key.dataset == "expressions")
    assert _count(lake, tmp_path / "w.duckdb") == expressions > 0

    result = CliRunner().invoke(
        main, ["materialize", "--repo", repo_url, "--out", lake, "--catalog-namespace", "x"]
    )
    assert result.exit_code == 2
    assert "a catalog namespace needs a catalog" in result.stderr


def test_a_catalog_whose_driver_is_missing_is_a_config_error_and_records_nothing(tmp_path: Path) -> None:
    # The catalog is opened on a thread of its own: its errors still reach the caller typed.
    lake = tmp_path / "lake"
    with pytest.raises(ConfigError, match="install its driver"):  # refused before any connection
        materialize(
            MemorySource("bafyone", demo.source_records()),
            str(lake),
            catalog=CatalogChoice("mysql+mysqldb://lairs@127.0.0.1:9/iceberg"),
        )
    assert not (lake / CATALOG_RECORD).exists()
