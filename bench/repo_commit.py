"""Commit 100 000 records (one actor, full replace) through ``Repository`` to moto S3 and to disk.

Prints, per backend, the objects written (puts + ref swaps), the seconds for stage +
commit, the keys/s of the whole commit, and the ratio S3 / local disk measured in the
same run. A second, incremental commit (100 records changed) shows the per-partition
update cost. Never reaches AWS: dummy credentials, endpoint on 127.0.0.1.

    .venv/bin/python bench/repo_commit.py [RECORDS]
"""

from __future__ import annotations

import sys
import tempfile
import time

from _s3 import Counting, moto_bucket  # bench/ is on sys.path when run as a script

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.repo.layout import init_layout
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance
from lairs_etl.repo.storage import open_storage

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CHANGED = 100
DID = "did:plc:benchactor00000000000000"
COLL = "pub.layers.annotation.annotationLayer"
PROV = Provenance(fetched_at="2026-01-01T00:00:00Z", lexicon_hash="bench")


def records(count: int, salt: str = "") -> list[tuple[str, str, Cid, bytes]]:
    out = []
    for i in range(count):
        data = cbor.encode({"$type": COLL, "text": f"{salt}annotation {i} " + "x" * 200, "index": i})
        out.append((COLL, f"3k{i:011d}", cid_for_dag_cbor(data), data))
    return out


def run(url: str, options: dict[str, object], batch: list[tuple[str, str, Cid, bytes]]) -> dict[str, float]:
    storage = Counting(open_storage(url, options))
    init_layout(storage)
    repo = Repository(storage)
    storage.writes = storage.reads = 0
    started = time.perf_counter()
    repo.stage(DID, batch, replace=True, provenance=PROV)
    repo.commit("bench: full", "bench")
    full_seconds = time.perf_counter() - started
    full_writes, full_reads = storage.writes, storage.reads
    storage.writes = storage.reads = 0
    started = time.perf_counter()
    repo.stage(DID, records(CHANGED, "changed "), replace=False, provenance=PROV)
    repo.commit("bench: incremental", "bench")
    inc_seconds = time.perf_counter() - started
    return {
        "seconds": full_seconds, "writes": full_writes, "reads": full_reads,
        "inc_seconds": inc_seconds, "inc_writes": storage.writes, "inc_reads": storage.reads,
    }


def main() -> None:
    batch = records(N)
    with moto_bucket() as (bucket, options):
        s3 = run(f"{bucket}/repo", options, batch)
    with tempfile.TemporaryDirectory(prefix="lairs-bench-") as tmp:
        local = run(f"{tmp}/repo", {}, batch)
    print(f"commit of {N} records (one actor, full tree build) + {CHANGED}-record incremental commit")
    for name, r in (("moto S3", s3), ("local disk", local)):
        print(
            f"  {name:10s}: full {r['seconds']:.2f} s ({N / r['seconds']:,.0f} records/s), "
            f"{r['writes']:.0f} objects written, {r['reads']:.0f} reads; "
            f"incremental {r['inc_seconds']:.3f} s, {r['inc_writes']:.0f} written, {r['inc_reads']:.0f} reads"
        )
    print(f"  ratio S3 / local disk: full {s3['seconds'] / local['seconds']:.2f}x, "
          f"incremental {s3['inc_seconds'] / local['inc_seconds']:.2f}x")


if __name__ == "__main__":
    main()
