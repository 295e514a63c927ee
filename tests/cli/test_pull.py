"""``lairs-etl pull`` against the real PDS: one JSON summary, progress on stderr, tags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lairs_etl.cli import main
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository

pytestmark = pytest.mark.pds

EXPRESSION = "pub.layers.expression.expression"


@pytest.fixture
def account(pds_account: Callable[..., Account]) -> Account:
    acc = pds_account("cp")
    acc.bulk_create(EXPRESSION, [{"$type": EXPRESSION, "text": f"e{i}"} for i in range(4)])
    return acc


def _run(local_pds: LocalPds, *args: str) -> Result:
    env = {
        "LAIRS_PLC_URL": local_pds.plc_url,
        "LAIRS_HANDLE_SERVICE": local_pds.pds_url,
        "LAIRS_ALLOW_PRIVATE_HOSTS": "1",
    }
    return CliRunner().invoke(main, ["pull", *args], env=env)


def test_pull_commits_tags_and_prints_the_commit(
    local_pds: LocalPds, account: Account, tmp_path: Path
) -> None:
    url = str(tmp_path / "repo")
    result = _run(local_pds, account.handle, "--repo", url, "--collection", EXPRESSION, "--tag", "v1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    repo = Repository.open(url)
    assert summary["commit"] == repo.head().encode()  # type: ignore[union-attr]
    assert summary["tag"] == "v1"
    assert repo.resolve("v1").encode() == summary["commit"]
    [actor] = summary["actors"]
    assert actor["did"] == account.did
    assert actor["status"] == "committed"
    assert actor["records"] == 4
    assert len(list(repo.iter_records("v1"))) == 4


def test_pull_of_several_actors_reports_progress_and_failures(
    local_pds: LocalPds, account: Account, tmp_path: Path
) -> None:
    url = str(tmp_path / "repo")
    result = _run(local_pds, account.did, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--repo", url)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert [a["status"] for a in summary["actors"]] == ["committed", "failed"]
    assert "[2/2]" in result.stderr
    assert set(Repository.open(url).actors()) == {account.did}
