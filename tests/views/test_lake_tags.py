"""Repository names in the lake: snapshots carry the branch and tags, repository tags become Iceberg tags."""

from __future__ import annotations

from pathlib import Path

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.repo.repository import Repository
from lairs_etl.views import RepositorySource, build_warehouse, materialize, mirror_tags, run_query
from lairs_etl.views.iceberg import BRANCH_PROPERTY, COMMIT_PROPERTY, TAGS_PROPERTY, LakeCatalog
from tests.views import demo
from tests.views.repo_fixture import demo_repository

QUERY = "SELECT count(*) AS n FROM expressions"


def _drop_one_expression(repo: Repository) -> str:
    """A second commit: bob loses one expression."""
    bob = [r for r in demo.records() if r[0] == demo.BOB and r[1] == demo.EXPR]
    kept = [(c, k, v) for d, c, k, v in demo.records() if d == demo.BOB and (c, k) != bob[0][1:3]]
    blocks = [(c, k, cbor.encode_json_form(v)) for c, k, v in kept]
    repo.stage(demo.BOB, [(c, k, cid_for_dag_cbor(b), b) for c, k, b in blocks], replace=True)
    return repo.commit("second", "tests").encode()


def _synced(tmp_path: Path) -> tuple[Repository, str, str]:
    """The demo repository and a lake written from its first commit (returned too)."""
    repo_url, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    first = demo_repository(repo_url)
    repo = Repository.open(repo_url)
    materialize(RepositorySource(repo, first), lake)
    return repo, lake, first


def _expressions(lake: str, db: Path, at: str | None = None) -> int:
    build_warehouse(lake, str(db))
    return int(run_query(str(db), QUERY, at=at).to_pylist()[0]["n"])


def test_snapshots_say_which_branch_and_tags_they_were_written_from(tmp_path: Path) -> None:
    repo_url, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    first = demo_repository(repo_url)
    repo = Repository.open(repo_url)
    repo.tag("release-1", first)
    materialize(RepositorySource(repo, "main"), lake)

    tables = LakeCatalog(lake).all_tables()
    assert tables
    for table in tables:
        snapshot = table.current_snapshot()
        assert snapshot is not None
        assert snapshot.summary is not None
        assert snapshot.summary[COMMIT_PROPERTY] == first
        assert snapshot.summary[BRANCH_PROPERTY] == "main"
        assert snapshot.summary[TAGS_PROPERTY] == "release-1"
    tags = LakeCatalog(lake).tags()
    assert set(tags) == {"release-1"}
    assert set(tags["release-1"]) == {t.name()[-1] for t in tables}  # every table, without `lake tag`


def test_a_tag_made_after_the_write_reaches_the_lake_and_reads_back_after_the_next_sync(
    tmp_path: Path,
) -> None:
    repo, lake, first = _synced(tmp_path)
    assert LakeCatalog(lake).tags() == {}
    before = _expressions(lake, tmp_path / "w.duckdb")

    repo.tag("release-1", first)
    # The warehouse refresh (nothing stale) is enough to carry the tag over.
    summary = materialize(RepositorySource(repo, first), lake, stale_only=True)
    assert summary.files_written == 0
    assert "release-1" in LakeCatalog(lake).tags()

    second = _drop_one_expression(repo)
    materialize(RepositorySource(repo, second), lake)
    assert _expressions(lake, tmp_path / "w.duckdb") == before - 1
    assert _expressions(lake, tmp_path / "w.duckdb", at="release-1") == before


def test_a_partly_written_commit_gets_its_tag_only_when_the_lake_is_that_commit_throughout(
    tmp_path: Path,
) -> None:
    repo, lake, _ = _synced(tmp_path)
    second = _drop_one_expression(repo)
    repo.tag("release-2", second)
    others = [d for d in repo.actors(repo.resolve(second)) if d != demo.BOB]
    assert others

    materialize(RepositorySource(repo, second), lake, dids=[demo.BOB])  # the others still at `first`
    assert "release-2" not in LakeCatalog(lake).tags()
    assert mirror_tags(RepositorySource(repo, second), lake) == ()

    materialize(RepositorySource(repo, second), lake, dids=others)  # now the lake is `second` throughout
    assert "release-2" in LakeCatalog(lake).tags()
    assert _expressions(lake, tmp_path / "w.duckdb", at="release-2") == _expressions(
        lake, tmp_path / "w.duckdb"
    )
