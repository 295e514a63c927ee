"""Write one pack of 100 000 small blocks (~300 bytes) to a moto S3 server on loopback.

Prints objects written, seconds, and ratios against two baselines measured in the same
run on the same server: one PutObject of the same number of bytes (the I/O floor) and
one object per block (measured on a sample, scaled), the layout packs replace.
Never reaches AWS: dummy credentials, endpoint on 127.0.0.1.
"""

from __future__ import annotations

import sys
import time

from _s3 import Counting, moto_bucket  # bench/ is on sys.path when run as a script

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.repo.packset import PackSetReader, write_blocks
from lairs_etl.repo.storage import open_storage

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
SAMPLE = 1_000


def main() -> None:
    with moto_bucket() as (url, options):
        bucket = url.removeprefix("s3://")
        storage = Counting(open_storage(f"s3://{bucket}/repo", options))
        blocks = [cbor.encode({"$type": "pub.layers.bench", "n": i, "text": "x" * 270}) for i in range(N)]
        pairs = [(cid_for_dag_cbor(b), b) for b in blocks]
        size = sum(len(b) for b in blocks)

        t0 = time.perf_counter()
        packset = write_blocks(storage, None, pairs, roots=[])
        pack_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        storage.fs.pipe_file(f"{bucket}/floor.bin", b"\0" * size)
        floor_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        for cid, data in pairs[:SAMPLE]:
            storage.fs.pipe_file(f"{bucket}/blocks/{cid.encode()}", data)
        per_block_s = (time.perf_counter() - t0) * N / SAMPLE

        reader_storage = Counting(open_storage(f"s3://{bucket}/repo", options))
        t0 = time.perf_counter()
        reader = PackSetReader(reader_storage, packset.name)
        assert reader.get(pairs[N // 2][0]) == pairs[N // 2][1]
        read_s = time.perf_counter() - t0

        print(f"blocks: {N}, block bytes: {size / N:.0f} avg, {size / 1e6:.1f} MB total")
        print(f"pack write: {storage.writes} objects, {pack_s:.2f} s")
        print(f"baseline one PutObject of {size / 1e6:.1f} MB: {floor_s:.2f} s"
              f"  -> ratio {pack_s / floor_s:.2f}x")
        print(f"baseline one object per block (from {SAMPLE}, scaled): {per_block_s:.1f} s, {N} objects"
              f"  -> packs are {per_block_s / pack_s:.1f}x faster")
        print(f"cold read of one block by CID: {reader_storage.reads} requests, {read_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
