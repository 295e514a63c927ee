"""The storage contract, run against every backend (memory, local disk, moto S3)."""

from __future__ import annotations

import threading

import pytest

from lairs_etl.errors import ConfigError, NotFoundError, RefConflictError, RepositoryCorruptError
from lairs_etl.repo.storage import Storage, open_storage


def test_missing_object_raises_not_found(storage: Storage) -> None:
    with pytest.raises(NotFoundError):
        storage.get("packs/nothing.car")
    with pytest.raises(NotFoundError):
        storage.get_range("packs/nothing.car", 0, 4)
    assert not storage.exists("packs/nothing.car")


def test_put_then_get_whole_and_ranged(storage: Storage) -> None:
    storage.put("packs/a.car", b"0123456789")
    assert storage.get("packs/a.car") == b"0123456789"
    assert storage.get_range("packs/a.car", 3, 7) == b"3456"
    assert storage.exists("packs/a.car")


def test_ranged_read_past_the_end_is_corruption(storage: Storage) -> None:
    storage.put("packs/short.car", b"0123")
    with pytest.raises(RepositoryCorruptError):
        storage.get_range("packs/short.car", 2, 10)


def test_ranged_read_wholly_past_the_end_is_corruption(storage: Storage) -> None:
    """S3 refuses such a range outright (InvalidRange); it is still a truncated object."""
    storage.put("packs/short.car", b"0123")
    with pytest.raises(RepositoryCorruptError):
        storage.get_range("packs/short.car", 8, 12)


def test_put_replaces(storage: Storage) -> None:
    storage.put("x/k", b"one")
    storage.put("x/k", b"two")
    assert storage.get("x/k") == b"two"


def test_list_is_sorted_scoped_and_sized(storage: Storage) -> None:
    storage.put("refs/heads/main", b"1")
    storage.put("refs/heads/feature/x", b"22")
    storage.put("refs/tags/v1", b"333")
    listed = storage.list("refs/heads/")
    assert [o.key for o in listed] == ["refs/heads/feature/x", "refs/heads/main"]
    assert [o.size for o in listed] == [2, 1]
    assert all(o.mtime is not None for o in listed)
    assert storage.list("nothing/") == []


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put("x/k", b"v")
    storage.delete("x/k")
    storage.delete("x/k")
    assert not storage.exists("x/k")


def test_swap_creates_only_when_absent(storage: Storage) -> None:
    storage.swap("refs/heads/main", None, b"a")
    with pytest.raises(RefConflictError) as info:
        storage.swap("refs/heads/main", None, b"b")
    assert info.value.expected is None
    assert info.value.actual == "a"
    assert storage.get("refs/heads/main") == b"a"


def test_swap_compares_before_replacing(storage: Storage) -> None:
    storage.swap("refs/heads/main", None, b"a")
    storage.swap("refs/heads/main", b"a", b"b")
    with pytest.raises(RefConflictError) as info:
        storage.swap("refs/heads/main", b"a", b"c")
    assert (info.value.expected, info.value.actual) == ("a", "b")
    assert storage.get("refs/heads/main") == b"b"


def test_swap_to_none_deletes(storage: Storage) -> None:
    storage.swap("refs/tags/t", None, b"a")
    storage.swap("refs/tags/t", b"a", None)
    assert not storage.exists("refs/tags/t")
    with pytest.raises(RefConflictError):
        storage.swap("refs/tags/t", b"a", None)
    storage.swap("refs/tags/t", None, None)  # "absent stays absent" holds: a no-op


def test_swap_leaves_no_lock_or_temp_objects_in_listings(storage: Storage) -> None:
    storage.swap("refs/heads/main", None, b"a")
    storage.swap("refs/heads/main", b"a", b"b")
    assert [o.key for o in storage.list("refs/")] == ["refs/heads/main"]


def test_concurrent_swaps_lose_no_update(storage: Storage) -> None:
    """Threads increment a counter by CAS with retry: the total proves no update was lost."""
    storage.swap("refs/heads/counter", None, b"0")
    conflicts = []

    def worker() -> None:
        for _ in range(5):
            while True:
                current = storage.get("refs/heads/counter")
                try:
                    storage.swap("refs/heads/counter", current, str(int(current) + 1).encode())
                    break
                except RefConflictError:
                    conflicts.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.get("refs/heads/counter") == b"20"


def test_plain_paths_and_file_urls_open_local_storage(tmp_path: object) -> None:
    a = open_storage(str(tmp_path))
    b = open_storage(f"file://{tmp_path}")
    a.put("k", b"v")
    assert b.get("k") == b"v"
    assert a.backend == b.backend == "file"


def test_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_storage("nosuchprotocol://x/y")


def test_backend_failures_are_translated() -> None:
    """An S3 endpoint that refuses connections surfaces as RepositoryError, not botocore's."""
    from lairs_etl.errors import RepositoryError

    storage = open_storage(
        "s3://no-such-bucket/repo",
        {
            "key": "x", "secret": "y",
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
        },
    )
    with pytest.raises(RepositoryError) as info:
        storage.get("refs/heads/main")
    assert not isinstance(info.value, NotFoundError)
