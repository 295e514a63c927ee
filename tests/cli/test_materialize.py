"""``lairs-etl materialize``: Parquet views of a repository revision, without Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from lairs_etl.cli import main
from tests.views import demo
from tests.views.repo_fixture import demo_repository


def test_materialize_a_revision_and_build_the_warehouse(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    commit = demo_repository(repo)
    lake, db = tmp_path / "lake", tmp_path / "w.duckdb"
    result = CliRunner().invoke(
        main,
        [
            "materialize",
            "--repo",
            repo,
            "--rev",
            "main",
            "--out",
            str(lake),
            "--warehouse",
            str(db),
            "--compression",
            "gzip",
            "--row-group-size",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["commit"], report["records"], report["invalid_records"]) == (commit, 9, 1)
    assert report["tables"][f"annotations/{demo.LAYER}"]["rows"] == 8
    assert report["warehouse"]["records"] == 9
    assert db.exists()
    part = next((lake / "records").rglob("part-*.parquet"))
    assert pq.read_metadata(part).row_group(0).column(0).compression == "GZIP"


def test_unknown_revision_fails_cleanly(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    demo_repository(repo)
    result = CliRunner().invoke(
        main, ["materialize", "--repo", repo, "--rev", "nope", "--out", str(tmp_path / "l")]
    )
    assert result.exit_code == 1
    assert "error:" in result.stderr
