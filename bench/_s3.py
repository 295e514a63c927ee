"""What the S3 benchmarks share: a moto server on loopback and a storage that counts.

Dummy credentials are set before botocore loads, so nothing can reach real AWS.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.update({
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
})

from moto.server import ThreadedMotoServer

from lairs_etl.repo.storage import Storage

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@contextmanager
def moto_bucket() -> Iterator[tuple[str, dict[str, object]]]:
    """A fresh bucket on a moto server: ``(s3://bucket, storage_options)``."""
    import s3fs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        options: dict[str, object] = {
            "key": "bench", "secret": "bench",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        bucket = f"lairs-bench-{secrets.token_hex(4)}"
        s3fs.S3FileSystem(**options).call_s3("create_bucket", Bucket=bucket)
        yield f"s3://{bucket}", options
    finally:
        server.stop()


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
