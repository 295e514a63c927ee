"""Branches and tags: compare-and-swap moves, typed conflicts, name rules, layout marker."""

from __future__ import annotations

import pytest

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.errors import ConfigError, NotFoundError, RefConflictError, RepositoryCorruptError
from lairs_etl.repo.layout import FORMAT_VERSION, REPO_JSON, init_layout, read_layout, ref_key
from lairs_etl.repo.refs import Refs, RefValue
from lairs_etl.repo.storage import Storage

A = RefValue(cid_for_dag_cbor(b"\xa0"), "a" * 64)
B = RefValue(cid_for_dag_cbor(b"\x80"), "b" * 64)
C = RefValue(cid_for_dag_cbor(b"\xf6"), "c" * 64)


def test_missing_ref(storage: Storage) -> None:
    refs = Refs(storage)
    assert refs.find("heads", "main") is None
    with pytest.raises(NotFoundError):
        refs.get("heads", "main")


def test_set_get_list(storage: Storage) -> None:
    refs = Refs(storage)
    refs.set("heads", "main", A, expected=None)
    refs.set("heads", "feature/x", B, expected=None)
    refs.set("tags", "v1", A, expected=None)
    assert refs.get("heads", "main") == A
    assert refs.list("heads") == {"feature/x": B, "main": A}
    assert refs.list("tags") == {"v1": A}


def test_conflict_carries_ref_expected_and_actual(storage: Storage) -> None:
    refs = Refs(storage)
    refs.set("heads", "main", A, expected=None)
    refs.set("heads", "main", B, expected=A)
    with pytest.raises(RefConflictError) as info:
        refs.set("heads", "main", C, expected=A)
    err = info.value
    assert (err.ref, err.expected, err.actual) == ("heads/main", A.commit.encode(), B.commit.encode())
    assert refs.get("heads", "main") == B


def test_creating_an_existing_tag_conflicts(storage: Storage) -> None:
    refs = Refs(storage)
    refs.set("tags", "v1", A, expected=None)
    with pytest.raises(RefConflictError) as info:
        refs.set("tags", "v1", B, expected=None)
    assert info.value.expected is None
    assert info.value.actual == A.commit.encode()


def test_delete_needs_the_current_value(storage: Storage) -> None:
    refs = Refs(storage)
    refs.set("tags", "v1", A, expected=None)
    with pytest.raises(RefConflictError):
        refs.delete("tags", "v1", expected=B)
    refs.delete("tags", "v1", expected=A)
    assert refs.find("tags", "v1") is None


def test_damaged_ref_is_corruption(storage: Storage) -> None:
    storage.put(ref_key("heads", "main"), b"not cbor")
    with pytest.raises(RepositoryCorruptError):
        Refs(storage).get("heads", "main")


@pytest.mark.parametrize(
    "name", ["", "/x", "x/", "a//b", ".hidden", "-x", "a..b", "main.lock", "sp ace", "a/../b", "x" * 300]
)
def test_invalid_ref_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        ref_key("heads", name)


@pytest.mark.parametrize("name", ["main", "release/2026-11", "v1.0.0", "user@host", "a_b+c=d"])
def test_valid_ref_names(name: str) -> None:
    assert ref_key("tags", name) == f"refs/tags/{name}"


def test_layout_marker(storage: Storage) -> None:
    with pytest.raises(NotFoundError):
        read_layout(storage)
    init_layout(storage)
    init_layout(storage)  # idempotent
    assert read_layout(storage) == FORMAT_VERSION


def test_foreign_or_newer_marker_is_refused(storage: Storage) -> None:
    storage.put(REPO_JSON, b'{"format": "lairs-etl-repository", "version": 99}')
    with pytest.raises(RepositoryCorruptError):
        read_layout(storage)
    with pytest.raises(RepositoryCorruptError):
        init_layout(storage)
