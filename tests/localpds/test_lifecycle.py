"""Starting and stopping the local PDS: ports, processes, failures, no leaks."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from lairs_etl.errors import ConfigError, LocalPdsError
from lairs_etl.localpds import LocalPds, NodeEnv
from tests.fixtures.pds import AccountFactory

pytestmark = pytest.mark.pds


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_stop_frees_ports_removes_data_and_ends_node(node_env: NodeEnv) -> None:
    pds = LocalPds(node_env=node_env)
    with pds:
        ports = [_port(pds.pds_url), _port(pds.plc_url)]
        pid = pds.pid
        data_dir = pds.log_path.parent if pds.log_path else None
        assert pid is not None
        assert data_dir is not None
        assert data_dir.is_dir()
        assert not any(_refused(port) for port in ports)
    assert all(_refused(port) for port in ports)
    assert _gone(pid, within=1.0)
    assert not data_dir.exists()
    with pytest.raises(ConfigError):
        _ = pds.pds_url
    pds.stop()  # a second stop is harmless


def test_servers_listen_on_loopback_only(local_pds: LocalPds) -> None:
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ports = {_port(local_pds.pds_url), _port(local_pds.plc_url)}
    local_addresses = {
        line.split()[1] for line in listening if line.split()[3] == "0A"  # TCP_LISTEN
    }
    ours = {addr for addr in local_addresses if int(addr.split(":")[1], 16) in ports}
    assert ours == {f"0100007F:{port:04X}" for port in ports}


def test_a_killed_parent_leaves_no_node_behind(node_env: NodeEnv, tmp_path: Path) -> None:
    script = (
        "import json, os, signal\n"
        "from lairs_etl.localpds import LocalPds, NodeEnv\n"
        "from pathlib import Path\n"
        f"env = NodeEnv(node=Path({str(node_env.node)!r}), prefix=Path({str(node_env.prefix)!r}))\n"
        "pds = LocalPds(node_env=env).start()\n"
        "print(json.dumps({'pid': pds.pid, 'url': pds.pds_url}), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    started = json.loads(child.stdout)
    assert _gone(started["pid"], within=10.0)
    assert _refused(_port(started["url"]))


def test_a_failed_start_raises_with_the_node_log(node_env: NodeEnv, tmp_path: Path) -> None:
    empty = NodeEnv(node=node_env.node, prefix=tmp_path)  # node, but no packages
    pds = LocalPds(node_env=empty, startup_timeout=30)
    with pytest.raises(LocalPdsError) as caught:
        pds.start()
    assert "@did-plc/server" in caught.value.log_tail
    assert pds.pid is None


def test_secrets_stay_out_of_the_log_and_reprs(local_pds: LocalPds, pds_account: AccountFactory) -> None:
    account = pds_account()
    local_pds.takedown(account.did, applied=False)  # one admin call, so the password was used
    assert local_pds.log_path is not None
    log = local_pds.log_path.read_text()
    for secret in (local_pds.admin_password, account.password, account.access_jwt):
        assert secret not in log
        assert secret not in repr(account)


@pytest.mark.slow
def test_rate_limits_are_off_by_default_and_on_when_asked(local_pds: LocalPds, node_env: NodeEnv) -> None:
    def headers(pds: LocalPds) -> dict[str, str]:
        account = pds.create_account(f"rl{secrets.token_hex(4)}.test")
        record = {"text": "x"}
        body = {"repo": account.did, "collection": "pub.layers.expression.expression", "record": record}
        auth = {"authorization": f"Bearer {account.access_jwt}"}
        response = httpx.post(f"{pds.pds_url}/xrpc/com.atproto.repo.createRecord", json=body, headers=auth)
        response.raise_for_status()
        return {k: v for k, v in response.headers.items() if k.startswith("ratelimit-")}

    assert headers(local_pds) == {}
    with LocalPds(node_env=node_env, rate_limits=True) as limited:
        assert int(headers(limited)["ratelimit-limit"]) > 0
