"""A publish killed mid-way (SIGKILL, no cleanup) is finished by running it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from tests.publish._publishing import apply_as
from tests.publish.conftest import demo_repo, local_cids, pds_records

if TYPE_CHECKING:
    from lairs_etl.localpds import Account, LocalPds


def test_kill_mid_publish_then_rerun_completes_without_duplicates(
    local_pds: LocalPds,
    pds_account: Callable[..., Account],
    client: XrpcClient,
    resolver: IdentityResolver,
    tmp_path: Path,
) -> None:
    account = pds_account("kill")
    repo = demo_repo(tmp_path / "repo", account.did, expressions=300)  # 1,205 records: 7 calls
    total = len(local_cids(repo, account.did))
    env = {**os.environ, "LAIRS_APP_PASSWORD": account.password}
    command = [
        sys.executable, "-c", "from lairs_etl.cli import main; main()",
        "publish", "--repo", str(tmp_path / "repo"), "--rev", "main", "--as", account.did, "--apply",
        "--plc-url", local_pds.plc_url, "--handle-service", local_pds.pds_url, "--allow-private-hosts",
    ]  # fmt: skip
    # the CLI, as a user would run it, killed once its second applyWrites call has landed
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
    ) as child:
        assert child.stderr is not None
        for line in child.stderr:
            if line.startswith("applyWrites #2"):
                child.send_signal(signal.SIGKILL)
                break
        child.kill()
    assert child.returncode == -signal.SIGKILL
    landed_before = len(pds_records(account))
    assert 2 * 190 <= landed_before < total  # two whole calls landed (a cycle may end a call early)

    report = apply_as(account, repo, client, resolver)
    assert report.plan.count("create") == total - landed_before  # nothing written twice
    assert report.writes == total - landed_before
    assert pds_records(account) == local_cids(repo, account.did)
    again = apply_as(account, repo, client, resolver)
    assert again.writes == 0
