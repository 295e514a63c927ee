"""The moto S3 fixture: fsspec/s3fs round trips, isolated buckets, never real AWS."""

from __future__ import annotations

import os

import fsspec
import pytest

from tests.fixtures.s3 import S3Bucket

pytestmark = pytest.mark.s3


def test_fsspec_writes_and_reads_back_through_the_moto_endpoint(s3_bucket: S3Bucket) -> None:
    url, storage_options = s3_bucket
    fs = fsspec.filesystem("s3", **storage_options)
    fs.pipe(f"{url}/dir/blob.bin", b"\x00payload")
    with fsspec.open(f"{url}/dir/text.txt", "w", **storage_options) as handle:
        handle.write("hello")
    assert fs.cat(f"{url}/dir/blob.bin") == b"\x00payload"
    assert sorted(fs.ls(f"{url}/dir", detail=False)) == [f"{url[5:]}/dir/blob.bin", f"{url[5:]}/dir/text.txt"]
    with fsspec.open(f"{url}/dir/text.txt", "r", **storage_options) as handle:
        assert handle.read() == "hello"


def test_each_test_gets_an_empty_bucket_of_its_own(s3_bucket: S3Bucket) -> None:
    url, storage_options = s3_bucket
    fs = fsspec.filesystem("s3", **storage_options)
    assert fs.ls(url, detail=False) == []
    assert len(fs.ls("", detail=False)) >= 1  # earlier tests' buckets exist alongside


def test_aws_settings_can_only_reach_loopback(s3_endpoint: str) -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_ENDPOINT_URL"] == s3_endpoint
    assert s3_endpoint.startswith("http://127.0.0.1:")
    assert "AWS_PROFILE" not in os.environ
