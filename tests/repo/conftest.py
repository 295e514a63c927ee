"""One storage fixture, parametrized over every backend: the contract suite runs on each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lairs_etl.repo.storage import Storage, open_storage

BACKENDS = ["memory", "local", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    """``(url, storage_options)`` of a fresh, empty store on one backend."""
    if request.param == "memory":
        url = f"memory://lairs-test-{uuid.uuid4().hex}"
        yield url, {}
        import contextlib

        import fsspec

        with contextlib.suppress(FileNotFoundError):
            fsspec.filesystem("memory").rm(url.removeprefix("memory:/"), recursive=True)
    elif request.param == "local":
        yield str(tmp_path / "repo"), {}
    else:
        url, options = request.getfixturevalue("s3_bucket")
        yield f"{url}/repo", options


@pytest.fixture
def storage(storage_url: tuple[str, dict[str, object]]) -> Storage:
    url, options = storage_url
    return open_storage(url, options)
