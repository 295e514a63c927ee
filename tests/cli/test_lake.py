"""``lairs-etl lake tag|expire`` and ``lairs-etl sql --at``: a corpus release read back later."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.errors import ConfigError
from lairs_etl.repo.repository import Repository
from lairs_etl.views import RepositorySource, build_warehouse, materialize
from lairs_etl.views.retention import parse_age
from tests.views.repo_fixture import demo_repository, drop_one_expression


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_tagged_release_reads_back_after_later_syncs_and_expiry(tmp_path: Path) -> None:
    repo_url, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    first = demo_repository(repo_url)
    repo = Repository.open(repo_url)
    materialize(RepositorySource(repo, first), lake)
    repo.tag("release-1", first)

    code, out, err = _run("lake", "tag", "release-1", "--repo", repo_url, "--lake", lake)
    assert code == 0, err
    assert json.loads(out)["commit"] == first

    second = drop_one_expression(repo)
    materialize(RepositorySource(repo, second), lake)
    code, _, err = _run("lake", "tag", "release-2", "--repo", repo_url, "--lake", lake)
    assert code == 2  # no such repository tag: a usage error
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    query = "SELECT count(*) AS n FROM expressions"
    code, now, _ = _run("sql", query, "--db", db, "--format", "json")
    code_at, then, err = _run("sql", query, "--db", db, "--format", "json", "--at", "release-1")
    assert (code, code_at) == (0, 0), err
    assert json.loads(then)["n"] == json.loads(now)["n"] + 1

    code, out, err = _run("lake", "expire", "--lake", lake, "--older-than", "0s")
    assert code == 0, err
    assert json.loads(out)["files_removed"] >= 0
    code_at, again, err = _run("sql", query, "--db", db, "--format", "json", "--at", "release-1")
    assert code_at == 0, err
    assert again == then  # the tag still reads after expiry
    code, _, err = _run("sql", query, "--db", db, "--at", "release-9")
    assert code == 1
    assert "no tag" in err


def test_ages_and_times_for_older_than() -> None:
    now = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    assert parse_age("7d", now) == dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    assert parse_age("12h", now) == dt.datetime(2026, 1, 9, 12, tzinfo=dt.UTC)
    assert parse_age("2026-01-01T00:00:00+00:00", now) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for bad in ("soon", "7 days", "2026-01-01T00:00:00"):
        with pytest.raises(ConfigError):
            parse_age(bad, now)
