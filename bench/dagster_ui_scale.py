"""What the Dagster UI asks for the largest asset, at 10,000 and 100,000 actors, per layout.

For each partition layout (``actor``: actor x collection; ``actor_shard``: 256 shards x
collection) and actor count, a fresh SQLite DAGSTER_HOME registers the actors (the
``lairs_actors`` set the discovery sensor fills), ``layers/fetched`` gets the same number of
materialized partitions in both layouts (every shard x collection; in the actor layout, as
many actors' partitions), and ``dagster-webserver`` serves the project's ``definitions.py``
on loopback. Timed: the asset page's partition health query (the partition keys of each
dimension and the materialized/failed status ranges), cold then warm, over HTTP as the
UI sends it, and the webserver's peak RSS. Judged against the issue's 5 s budget.

The query is not what rules the actor layout out at 100,000 actors: the event log is.
Dagster records one materialization event per asset and partition; the bench times the
events it writes and projects a full refresh's (four stage assets x every partition) at
that measured cost: the ``refresh h`` column.

    .venv/bin/python bench/dagster_ui_scale.py [--actors 10000 100000] [--layouts actor actor_shard]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from dagster import AssetKey, AssetMaterialization, DagsterInstance

from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.dagster.partitions import PartitionLayout
from lairs_etl.localpds import free_port
from lairs_etl.records import record_types

ROOT = Path(__file__).resolve().parents[1]
SHARDS = 256
BUDGET_S = 5.0
_B32 = "abcdefghijklmnopqrstuvwxyz234567"

QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey
            primaryDimEndKey
            secondaryDim {
              ... on DefaultPartitionStatuses {
                materializedPartitions materializingPartitions failedPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""


def _dids(count: int) -> list[str]:
    rng = random.Random(11)
    return sorted({"did:plc:" + "".join(rng.choice(_B32) for _ in range(24)) for _ in range(count)})


def _home(root: Path, layout: str, actors: list[str]) -> tuple[Path, Path, int, float]:
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    refresh = {"actor_shards": SHARDS} if layout == "actor_shard" else {}
    settings = root / "lairs.yaml"
    settings.write_text(
        json.dumps(
            {
                "repository": {"url": str(root / "repo")},
                "lake": {"url": str(root / "lake")},
                "refresh": refresh,
            }
        ),
        encoding="utf-8",
    )
    types = record_types()
    shaped = PartitionLayout(types, SHARDS if layout == "actor_shard" else None)
    primaries = shaped.shard_keys() if shaped.sharded else actors[:SHARDS]  # the same count either way
    asset = AssetKey(["layers", "fetched"])
    with DagsterInstance.from_config(str(home)) as instance:
        for start in range(0, len(actors), 10_000):
            instance.add_dynamic_partitions(ACTORS_PARTITIONS, actors[start : start + 10_000])
        events = 0
        started = time.perf_counter()
        for primary in primaries:
            for collection in types:
                key = str(shaped.key(primary, collection))
                instance.report_runless_asset_event(AssetMaterialization(asset, partition=key))
                events += 1
        per_event = (time.perf_counter() - started) / events
    return home, settings, events, per_event


def _serve(home: Path, settings: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    webserver = str(Path(sys.executable).with_name("dagster-webserver"))
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAIRS_CONFIG": str(settings)}
    process = subprocess.Popen(  # our own venv's webserver, loopback only
        [webserver, "-h", "127.0.0.1", "-p", str(port), "-f", str(ROOT / "definitions.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("dagster-webserver did not start")


def _query(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/graphql",
        json={"query": QUERY, "variables": {"assetKey": {"path": ["layers", "fetched"]}}},
        timeout=900,
    )
    seconds = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise SystemExit(f"GraphQL errors: {body['errors'][:1]}")
    node = body["data"]["assetNodeOrError"]
    keys = 1
    for dimension in node["partitionKeysByDimension"]:
        keys *= len(dimension["partitionKeys"])
    return seconds, keys


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--layouts", nargs="+", default=["actor", "actor_shard"], choices=["actor", "actor_shard"]
    )
    args = parser.parse_args()
    columns = ("actors", "partitions", "events", "cold s", "warm s", "RSS MB", "ms/event", "refresh h")
    print(f"{'layout':12} " + " ".join(f"{c:>10}" for c in columns) + "  budget")
    for count in args.actors:
        actors = _dids(count)
        for layout in args.layouts:
            with tempfile.TemporaryDirectory() as tmp:
                home, settings, events, per_event = _home(Path(tmp), layout, actors)
                process, url = _serve(home, settings)
                try:
                    cold, keys = _query(url)
                    warm, _ = _query(url)
                    peak = _peak_mb(process.pid)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
            verdict = "OK" if max(cold, warm) < BUDGET_S else "OVER"
            refresh_h = 4 * keys * per_event / 3600  # four stage assets, every partition
            print(
                f"{layout:12} {count:10d} {keys:10d} {events:10d} {cold:10.2f} {warm:10.2f} {peak:10.0f}"
                f" {per_event * 1000:10.1f} {refresh_h:10.2f}  {verdict}",
                flush=True,
            )


if __name__ == "__main__":
    main()
