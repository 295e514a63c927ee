"""``lairs-etl publish``: a dry run by default, writes only with --apply and a password env."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from tests.publish.conftest import demo_repo, local_cids, pds_records

if TYPE_CHECKING:
    from lairs_etl.localpds import Account, LocalPds


def _args(local_pds: LocalPds, repo: Path, actor: str, *extra: str) -> list[str]:
    return [
        "publish", "--repo", str(repo), "--rev", "main", "--as", actor, "--plc-url", local_pds.plc_url,
        "--handle-service", local_pds.pds_url, "--allow-private-hosts", *extra,
    ]  # fmt: skip


def test_dry_run_shows_the_plan_and_writes_nothing(
    local_pds: LocalPds, pds_account: Callable[..., Account], tmp_path: Path
) -> None:
    account = pds_account("cli")
    demo_repo(tmp_path / "repo", account.did)
    result = CliRunner().invoke(
        main, _args(local_pds, tmp_path / "repo", str(account.handle), "--plan-lines", "0")
    )
    assert result.exit_code == 0, result.output
    creates = [line for line in result.stdout.splitlines() if line.startswith("create ")]
    assert len(creates) == 25
    assert "25 to create" in result.stdout
    assert "dry run" in result.stderr
    assert pds_records(account) == {}


def test_apply_needs_the_password_in_the_environment(
    local_pds: LocalPds, pds_account: Callable[..., Account], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = pds_account("cli")
    repo = demo_repo(tmp_path / "repo", account.did)
    monkeypatch.delenv("LAIRS_APP_PASSWORD", raising=False)
    failed = CliRunner().invoke(main, _args(local_pds, tmp_path / "repo", account.did, "--apply"))
    assert failed.exit_code == 2  # a ConfigError: fix the call
    assert "LAIRS_APP_PASSWORD" in failed.stderr
    assert pds_records(account) == {}

    monkeypatch.setenv("LAIRS_APP_PASSWORD", account.password)
    done = CliRunner().invoke(main, _args(local_pds, tmp_path / "repo", account.did, "--apply"))
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["writes"] == 25
    assert summary["recorded_commit"] is not None
    assert account.password not in done.output
    assert pds_records(account) == local_cids(repo, account.did)


def test_there_is_no_password_flag() -> None:
    result = CliRunner().invoke(main, ["publish", "--help"])
    assert result.exit_code == 0
    assert "--password " not in result.output
    assert "--password=" not in result.output
