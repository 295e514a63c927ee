"""Verified fetch throughput against the real local PDS, as ratios to baselines of the same run.

Seeds a Layers-only account with N records (default 20,000; ~30 s through applyWrites),
then times, best of ``--repeat`` each, interleaved:

* floor: ``getRepo`` downloaded to a file + bare CAR decode (framing and DAG-CBOR decode
  of every block to the JSON form; no hash, signature or MST check);
* car: ``fetch_actor(mode="car")`` (hashes, signature, full MST walk, records decoded);
* tree: ``fetch_actor(mode="tree")``;
* listRecords: sequential pagination (limit 100) without checks;
* records: ``fetch_actor(mode="records")`` (CIDs recomputed).

Then the peak RSS of a CAR fetch in a fresh process (memory store and disk store) against
a process that only imports the same modules.

    .venv/bin/python bench/fetch.py [--records 20000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account, LocalPds, ensure_node_env

COLLECTIONS = (
    "pub.layers.expression.expression",
    "pub.layers.annotation.annotationLayer",
    "pub.layers.segmentation.segmentation",
    "pub.layers.graph.graphEdge",
)


def _record(collection: str, i: int) -> dict[str, object]:
    return {
        "$type": collection,
        "text": f"Sentence {i}: the quick brown fox jumps over the lazy dog.",
        "tokens": [{"start": j * 4, "end": j * 4 + 3, "label": "NOUN"} for j in range(6)],
        "ref": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
        "createdAt": "2026-01-01T00:00:00.000Z",
    }


def _seed(account: Account, total: int) -> None:
    per = total // len(COLLECTIONS)
    for collection in COLLECTIONS:
        account.bulk_create(collection, (_record(collection, i) for i in range(per)))


def _floor(client: XrpcClient, pds_url: str, did: str) -> int:
    with tempfile.TemporaryFile() as spool:
        client.download(pds_url, "com.atproto.sync.getRepo", {"did": did}, spool)
        spool.seek(0)
        return sum(
            1 for _cid, block in read_car(spool, verify=False) if cbor.decode_json_form(block) is not None
        )


def _list_records(client: XrpcClient, pds_url: str, did: str) -> int:
    count = 0
    for collection in COLLECTIONS:
        cursor: str | None = None
        while True:
            params: dict[str, str | int | None] = {
                "repo": did,
                "collection": collection,
                "limit": 100,
                "cursor": cursor,
            }
            page = client.query(pds_url, "com.atproto.repo.listRecords", params)
            records = page.get("records") if isinstance(page, dict) else None
            if not isinstance(page, dict) or not isinstance(records, list) or not records:
                break
            count += len(records)
            next_cursor = page.get("cursor")
            if not isinstance(next_cursor, str):
                break
            cursor = next_cursor
    return count


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


_RSS_CHILD = """
import json, sys, tempfile
from lairs_etl.atproto.blockstore import DiskBlockStore
from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

pds_url, plc_url, did, kind = sys.argv[1:5]
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS: measure the fetch alone
before = status("VmRSS")
with XrpcClient(allow_private_hosts=True) as client, tempfile.TemporaryDirectory() as tmp:
    resolver = IdentityResolver(client, plc_url=plc_url, handle_service=pds_url)
    store = DiskBlockStore(tmp + "/b.sqlite") if kind == "disk" else None
    result = fetch_actor(did, mode="car", client=client, resolver=resolver, blockstore=store)
    n = len(result.records)
    if store is not None:
        store.close()
print(json.dumps({"before_kb": before, "peak_kb": status("VmHWM"), "records": n}))
"""


def _peak_rss(pds: LocalPds, did: str, kind: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, pds.pds_url, pds.plc_url, did, kind],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    loaded: dict[str, int] = json.loads(out)
    return loaded


def _mixed(pds: LocalPds, repeat: int, posts: int = 5000, layers: int = 500) -> None:
    """An account of mostly other apps' records: what tree mode saves over the whole CAR."""
    account = pds.create_account("benchmix.test")
    post = {
        "$type": "app.bsky.feed.post",
        "text": "a post of ordinary length " * 4,
        "createdAt": "2026-01-01T00:00:00Z",
    }
    account.bulk_create("app.bsky.feed.post", [post] * posts)
    account.bulk_create(COLLECTIONS[0], (_record(COLLECTIONS[0], i) for i in range(layers)))
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
        results = {}
        for mode in ("car", "tree"):
            seconds = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                result = fetch_actor(account.did, mode=mode, client=client, resolver=resolver)
                seconds = min(seconds, time.perf_counter() - started)
            results[mode] = (seconds, result.bytes_transferred, len(result.records))
    (car_s, car_b, n), (tree_s, tree_b, _) = results["car"], results["tree"]
    print(
        f"\nmixed account ({posts} posts, {layers} Layers records -> {n} fetched): "
        f"car {car_b / 1e6:.2f} MB in {car_s:.2f} s; tree {tree_b / 1e6:.3f} MB in {tree_s:.2f} s "
        f"({tree_b / car_b:.1%} of the bytes, {car_s / tree_s:.1f}x faster)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the verified CAR fetch")
    args = parser.parse_args()

    with LocalPds(node_env=ensure_node_env()) as pds:
        account = pds.create_account("bench.test")
        started = time.perf_counter()
        _seed(account, args.records)
        print(f"seeded {args.records} records in {time.perf_counter() - started:.1f} s")
        did = str(account.did)
        with XrpcClient(allow_private_hosts=True) as client:
            resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
            resolver.resolve(did)  # cached: the timings below measure the fetch, not the PLC
            car_size = len(account.get_repo())

            def car() -> object:
                return fetch_actor(did, mode="car", client=client, resolver=resolver)

            if args.profile:
                from pyinstrument import Profiler

                with Profiler() as profiler:
                    car()
                profiler.print(show_all=False)

            tasks: dict[str, Callable[[], object]] = {
                "floor (getRepo + bare decode)": lambda: _floor(client, pds.pds_url, did),
                "car (verified)": car,
                "tree (verified)": lambda: fetch_actor(did, mode="tree", client=client, resolver=resolver),
                "listRecords (sequential)": lambda: _list_records(client, pds.pds_url, did),
                "records (CID-checked)": lambda: fetch_actor(
                    did, collections=COLLECTIONS, mode="records", client=client, resolver=resolver
                ),
            }
            times = {name: float("inf") for name in tasks}
            for _ in range(args.repeat):
                for name, task in tasks.items():
                    times[name] = min(times[name], _best(task, 1))
        floor = times["floor (getRepo + bare decode)"]
        listing = times["listRecords (sequential)"]
        print(f"\n{args.records} records, CAR {car_size / 1e6:.1f} MB, best of {args.repeat}")
        print(f"{'path':32} {'seconds':>8} {'records/s':>10} {'rate vs floor':>14} {'vs listRecords':>15}")
        for name, seconds in times.items():
            print(
                f"{name:32} {seconds:8.3f} {args.records / seconds:10.0f} "
                f"{floor / seconds:13.2f}x {listing / seconds:14.2f}x"
            )
        _mixed(pds, args.repeat)
        for kind in ("memory", "disk"):
            rss = _peak_rss(pds, did, kind)
            print(
                f"peak RSS, car fetch with {kind} store: {rss['before_kb'] / 1024:.0f} MB after imports -> "
                f"{rss['peak_kb'] / 1024:.0f} MB peak (+{(rss['peak_kb'] - rss['before_kb']) / 1024:.0f} MB; "
                f"CAR {car_size / 2**20:.1f} MB, {rss['records']} records held in the result)"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
