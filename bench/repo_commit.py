"""Commit 100 000 records (one actor, full replace) through ``Repository`` to moto S3 and to disk.

Prints, per backend, the objects written (puts + ref swaps), the seconds for stage +
commit, the keys/s of the whole commit, and the ratio S3 / local disk measured in the
same run. A second, incremental commit (100 records changed) shows the per-partition
update cost. Never reaches AWS: dummy credentials, endpoint on 127.0.0.1.

    .venv/bin/python bench/repo_commit.py [RECORDS]
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time

os.environ.update({
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
})

import logging

from moto.server import ThreadedMotoServer

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.repo.layout import init_layout
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance
from lairs_etl.repo.storage import Storage, open_storage

logging.getLogger("werkzeug").setLevel(logging.ERROR)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CHANGED = 100
DID = "did:plc:benchactor00000000000000"
COLL = "pub.layers.annotation.annotationLayer"
PROV = Provenance(fetched_at="2026-01-01T00:00:00Z", lexicon_hash="bench")


class Counting(Storage):
    """Counts writes (puts and swaps) and reads, the numbers S3 bills and waits on."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner.fs, inner.root, url=inner.url)
        self.writes = self.reads = 0

    def put(self, key: str, data: bytes) -> None:
        self.writes += 1
        super().put(key, data)

    def swap(self, key: str, expected: bytes | None, new: bytes | None) -> None:
        self.writes += 1
        super().swap(key, expected, new)

    def get(self, key: str) -> bytes:
        self.reads += 1
        return super().get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.reads += 1
        return super().get_range(key, start, end)


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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        options: dict[str, object] = {
            "key": "bench", "secret": "bench", "client_kwargs": {"endpoint_url": endpoint},
        }
        import s3fs

        bucket = f"lairs-bench-{secrets.token_hex(4)}"
        s3fs.S3FileSystem(**options).mkdir(bucket)
        s3 = run(f"s3://{bucket}/repo", options, batch)
    finally:
        server.stop()
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
