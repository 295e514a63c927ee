"""Materializing a revision: layout, provenance, determinism, replacement, invalid records."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

from lairs_etl.errors import ConfigError
from lairs_etl.records import LEXICON_SHA256
from lairs_etl.views import MemorySource, TableKey, WriteOptions, materialize, read_manifest, table_values
from lairs_etl.views.layout import MANIFEST_NAME, part_name
from tests.views import demo
from tests.views.lake import lake_files


def _files(lake: str) -> dict[str, bytes]:
    """What a reader of the lake sees: manifest, actor states and the current partition files."""
    return lake_files(lake)


def _current(lake: str, prefix: str) -> list[str]:
    """The current partition files whose path (under the lake) starts with ``prefix``."""
    _fs, root = fsspec.core.url_to_fs(lake)
    return [f"{root}{p}" for p in _files(lake) if p.startswith(prefix) and p.endswith(".parquet")]


@pytest.fixture(params=["memory", "local"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://views-{secrets.token_hex(6)}/lake"
    return str(tmp_path / "lake")


def test_layout_counts_and_provenance(lake: str) -> None:
    summary = materialize(MemorySource("bafycommit", demo.source_records()), lake)
    files = _files(lake)
    assert f"/{MANIFEST_NAME}" in files
    expected = {
        f"/records/v1/collection={demo.EXPR}/actor=did%3Aplc%3Aalice5ewvi7nxzyoun6zhx/",
        f"/records/v1/collection={demo.EXPR}/actor=did%3Aweb%3Abob.example.com/",
        f"/annotations/v1/collection={demo.LAYER}/actor=did%3Aweb%3Abob.example.com/",
        f"/tokens/v1/collection={demo.SEG}/actor=did%3Aplc%3Aalice5ewvi7nxzyoun6zhx/",
        f"/judgments/v1/collection={demo.JSET}/actor=did%3Aweb%3Abob.example.com/",
        f"/expressions/v1/collection={demo.EXPR}/actor=did%3Aweb%3Abob.example.com/",
        f"/invalid/v1/collection={demo.LAYER}/actor=did%3Aweb%3Abob.example.com/",
    }
    parts = {p.rpartition("/")[0] + "/": p for p in files if p.endswith(".parquet")}
    assert expected <= set(parts)
    for path, data in files.items():  # each file is named by its bytes
        if path.endswith(".parquet"):
            assert path.rpartition("/")[2] == part_name(data)
    assert (summary.records, summary.invalid_records) == (9, 1)
    rows = {e.key.name: e.rows for e in summary.manifest.tables}
    assert rows[f"annotations/{demo.LAYER}"] == 8
    assert rows[f"tokens/{demo.SEG}"] == 5
    assert rows[f"judgments/{demo.JSET}"] == 3
    assert rows[f"invalid/{demo.LAYER}"] == 1
    fs, _ = fsspec.core.url_to_fs(lake)
    (path,) = _current(lake, f"/records/v1/collection={demo.EXPR}/actor=did%3Aweb%3Abob.example.com/")
    with fs.open(path, "rb") as handle:
        meta = pq.read_metadata(handle).metadata
    assert meta[b"lairs_etl.commit"] == b"bafycommit"
    assert meta[b"lairs_etl.lexicon_sha256"] == LEXICON_SHA256.encode()
    assert meta[b"lairs_etl.generator"].startswith(b"lairs-etl ")


def test_parquet_gives_back_the_committed_records(lake: str) -> None:
    materialize(MemorySource("bafycommit", demo.source_records()), lake)
    fs, _ = fsspec.core.url_to_fs(lake)
    back = []
    for path in _current(lake, f"/records/v1/collection={demo.EXPR}/"):
        with fs.open(path, "rb") as handle:
            back.extend(table_values(demo.EXPR, pq.read_table(handle)))
    committed = [v for d, c, r, v in sorted(demo.records(), key=lambda x: (x[0], x[2])) if c == demo.EXPR]
    assert sorted(back, key=repr) == sorted(committed, key=repr)


def test_rebuild_is_byte_identical_even_from_scratch(lake: str) -> None:
    source = MemorySource("bafycommit", demo.source_records())
    materialize(source, lake)
    first = _files(lake)
    materialize(MemorySource("bafycommit", list(reversed(demo.source_records()))), lake)
    assert _files(lake) == first
    fs, root = fsspec.core.url_to_fs(lake)
    fs.rm(root, recursive=True)  # the lake and its Iceberg metadata gone: the catalog copes
    materialize(source, lake)
    assert _files(lake) == first


def test_partitions_the_revision_no_longer_has_are_removed(lake: str) -> None:
    materialize(MemorySource("c1", demo.source_records()), lake)
    only_alice = [r for r in demo.source_records() if r.did == demo.ALICE]
    summary = materialize(MemorySource("c2", only_alice), lake)
    assert summary.files_removed > 0
    assert not [p for p in _files(lake) if "bob.example.com" in p]
    assert {s.did for s in summary.manifest.stats} == {demo.ALICE}


def test_partial_rewrite_keeps_other_actors(lake: str) -> None:
    records = demo.source_records()
    materialize(MemorySource("c1", records), lake)
    before = _files(lake)
    changed = [
        r for r in records if r.did != demo.BOB or r.collection != demo.JSET
    ]  # bob drops his judgments
    summary = materialize(MemorySource("c2", changed), lake, dids=[demo.BOB])
    after = _files(lake)
    alice = [p for p in before if "alice" in p]
    assert all(after[p] == before[p] for p in alice)  # untouched
    assert not [p for p in after if p.startswith("/judgments/")]
    assert summary.actors == (demo.BOB,)
    assert {s.did for s in summary.manifest.stats} == {demo.ALICE, demo.BOB}


def test_invalid_records_are_listed_with_diagnostics(lake: str) -> None:
    materialize(MemorySource("c1", demo.source_records()), lake)
    fs, _ = fsspec.core.url_to_fs(lake)
    (path,) = _current(lake, f"/invalid/v1/collection={demo.LAYER}/")
    with fs.open(path, "rb") as handle:
        rows = pq.read_table(handle).to_pylist()
    assert [r["rkey"] for r in rows] == ["3kbad0000000a"]
    assert {d["path"] for d in rows[0]["diagnostics"]} >= {"$.createdAt"}
    assert rows[0]["record_json"] is not None


def test_writer_options_apply(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    materialize(
        MemorySource("c", demo.source_records()),
        lake,
        options=WriteOptions(compression="snappy", row_group_size=1),
    )
    path = next((tmp_path / "lake" / "records").rglob("part-*.parquet"))
    meta = pq.read_metadata(path)
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    assert meta.num_row_groups == meta.num_rows
    assert not list((tmp_path / "lake").rglob(".tmp-*"))  # temporary files renamed away


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError):
        WriteOptions(compression="zip")
    with pytest.raises(ConfigError):
        WriteOptions(row_group_size=0)


def test_manifest_lists_every_record_type_even_without_rows(lake: str) -> None:
    summary = materialize(MemorySource("c", demo.source_records()), lake)
    keys = {e.key for e in summary.manifest.tables}
    assert TableKey("records", "pub.layers.ontology.ontology") in keys
    entry = summary.manifest.table(TableKey("records", "pub.layers.ontology.ontology"))
    assert entry is not None
    assert entry.rows == 0


def test_partial_rewrite_resolves_parents_from_the_lake(lake: str) -> None:
    records = demo.source_records()
    materialize(MemorySource("c1", records), lake)
    before = _files(lake)
    materialize(MemorySource("c1", records), lake, dids=[demo.BOB])
    assert _files(lake) == before  # bob's chain through alice's expressions is unchanged


def test_concurrent_partial_runs_keep_each_others_counts(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    records = demo.source_records()
    materialize(MemorySource("c1", [r for r in records if r.did == demo.ALICE]), lake)
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(materialize, MemorySource("c1", records), lake, dids=[did])
            for did in (demo.ALICE, demo.BOB)
        ]
        for run in runs:
            run.result()
    manifest = read_manifest(lake)
    assert manifest is not None
    assert {s.did for s in manifest.stats} == {demo.ALICE, demo.BOB}
    assert sum(s.records for s in manifest.stats) == 9


def test_first_partial_run_on_an_empty_lake_writes_only_its_actors(lake: str) -> None:
    # Per-actor refreshes start on an empty lake; each must not rewrite (or remove) the
    # others' partitions, or concurrent first runs would undo each other.
    records = demo.source_records()
    first = materialize(MemorySource("c1", records), lake, dids=[demo.ALICE])
    assert first.actors == (demo.ALICE,)
    assert _files(lake)
    assert not [p for p in _files(lake) if "bob.example.com" in p]
    materialize(MemorySource("c1", records), lake, dids=[demo.BOB])
    manifest = read_manifest(lake)
    assert manifest is not None
    assert {s.did for s in manifest.stats} == {demo.ALICE, demo.BOB}
    full_lake = str(lake) + "-full"
    materialize(MemorySource("c1", records), full_lake)
    assert _files(lake) == _files(full_lake)  # two partial runs = one full run, byte for byte


def test_stale_only_rewrites_just_the_actors_written_from_another_commit(lake: str) -> None:
    records = demo.source_records()
    materialize(MemorySource("c1", records), lake, dids=[demo.ALICE])  # a partition run
    caught_up = materialize(MemorySource("c1", records), lake, stale_only=True)
    assert caught_up.actors == (demo.BOB,)
    full_lake = str(lake) + "-full"
    materialize(MemorySource("c1", records), full_lake)
    assert _files(lake) == _files(full_lake)
    again = materialize(MemorySource("c1", records), lake, stale_only=True)
    assert (again.actors, again.files_written) == ((), 0)  # already at c1: nothing to do
    moved = materialize(MemorySource("c2", records), lake, stale_only=True)
    assert moved.actors == (demo.ALICE, demo.BOB)
    only_alice = [r for r in records if r.did == demo.ALICE]
    left = materialize(MemorySource("c3", only_alice), lake, stale_only=True)
    assert not [p for p in _files(lake) if "bob.example.com" in p]  # bob left: his files go
    assert {s.did for s in left.manifest.stats} == {demo.ALICE}
