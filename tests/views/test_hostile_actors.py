"""One actor never sinks the lake: maximal identifiers and per-actor failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

from lairs_etl.errors import UnexpectedError
from lairs_etl.views import (
    MemorySource,
    SourceRecord,
    SourceRefs,
    build_warehouse,
    materialize,
    read_manifest,
    run_query,
)
from lairs_etl.views.layout import MAX_ACTOR_COMPONENT, partition_path
from tests.views import demo
from tests.views.lake import lake_files

LONG_WEB = "did:web:" + ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])  # 253-character host


def _renamed(records: list[SourceRecord], old: str, new: str) -> list[SourceRecord]:
    return [dataclasses.replace(r, did=new) if r.did == old else r for r in records]


def test_a_maximal_did_web_is_written_beside_the_others(tmp_path: Path) -> None:
    records = _renamed(demo.source_records(), demo.BOB, LONG_WEB)
    lake = str(tmp_path / "lake")
    summary = materialize(MemorySource("bafycommit", records), lake)
    assert summary.ok
    assert set(summary.actors) == {demo.ALICE, LONG_WEB}
    names = [p.name for p in Path(lake).rglob("*")]
    assert max(len(n) for n in names) <= len("actor=") + MAX_ACTOR_COMPONENT
    # The full DID is in the files and the manifest, and the warehouse reads it back.
    prefix = f"/records/v1/collection={demo.EXPR}/actor=did%3Aweb%3Aaaaa"
    (part,) = [Path(lake + p) for p in lake_files(lake) if p.startswith(prefix)]
    assert pq.read_metadata(part).metadata[b"lairs_etl.did"] == LONG_WEB.encode()
    assert set(pq.read_table(part).column("did").to_pylist()) == {LONG_WEB}
    assert LONG_WEB in read_manifest(lake).actor_commits  # type: ignore[union-attr]
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    rows = run_query(db, "SELECT did, count(*) AS n FROM expressions GROUP BY did ORDER BY did").to_pylist()
    assert {r["did"] for r in rows} == {demo.ALICE, LONG_WEB}
    # A rewrite of just that actor replaces its files and nothing else's.
    alice = {p: b for p, b in lake_files(lake).items() if "alice" in p}
    again = materialize(MemorySource("bafycommit2", records), lake, dids=[LONG_WEB])
    assert again.ok
    assert again.files_removed == again.files_written > 0
    assert {p: b for p, b in lake_files(lake).items() if "alice" in p} == alice


@dataclasses.dataclass(frozen=True)
class _Failing:
    """A source whose records of one actor cannot be read (as a damaged repository would)."""

    inner: MemorySource
    bad: str

    @property
    def commit(self) -> str:
        return self.inner.commit

    def actors(self) -> list[str]:
        return list(self.inner.actors())

    def records(self, did: str, collections: Collection[str] | None = None) -> Iterable[SourceRecord]:
        if did == self.bad:
            raise RecursionError("a record nested too deeply for a recursive reader")
        return self.inner.records(did, collections)

    def patch(self, did: str, collection: str) -> None:
        return None

    def refs(self) -> SourceRefs:
        return self.inner.refs()


def test_one_actors_failure_costs_only_that_actor(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    first = materialize(MemorySource("bafyone", demo.source_records()), lake)
    assert first.ok
    bob_files = sorted(p for p in Path(lake).rglob("*.parquet") if "bob.example.com" in str(p))
    before = {p: p.read_bytes() for p in bob_files}

    failing = _Failing(MemorySource("bafytwo", demo.source_records()), demo.BOB)
    summary = materialize(failing, lake)

    ((did, error),) = summary.failed
    assert did == demo.BOB
    assert isinstance(error, UnexpectedError)
    assert error.cause_type == "RecursionError"
    assert not summary.ok
    manifest = read_manifest(lake)
    assert manifest is not None
    assert manifest.actor_commits == {demo.ALICE: "bafytwo", demo.BOB: "bafyone"}  # retried next time
    assert {p: p.read_bytes() for p in bob_files} == before  # kept, not removed as stale
    assert all(demo.BOB in e.partitions for e in manifest.tables if e.key.collection == demo.LAYER and e.rows)
    alice = next(lake + p for p in lake_files(lake) if "alice" in p and p.endswith(".parquet"))
    assert pq.read_metadata(alice).metadata[b"lairs_etl.commit"] == b"bafytwo"
    # Once the actor reads again, a stale-only run brings it up to date.
    fixed = materialize(MemorySource("bafytwo", demo.source_records()), lake, stale_only=True)
    assert fixed.ok
    assert fixed.actors == (demo.BOB,)


def _expression_rows(lake: str) -> dict[str, tuple[object, ...]]:
    db_rows: dict[str, tuple[object, ...]] = {}
    for part in lake_files(lake):
        if not part.startswith("/expressions/"):
            continue
        table = pq.read_table(lake + part)
        for row in table.to_pylist():
            db_rows[row["uri"]] = (tuple(row["parent_chain"] or ()), row["depth"], row["root_uri"])
    return db_rows


@pytest.mark.parametrize("partial", [False, True], ids=["full", "partial"])
def test_a_failed_actor_keeps_feeding_the_others_lineage(tmp_path: Path, partial: bool) -> None:
    # Bob's sentence hangs under Alice's paragraph: when Alice cannot be read, Bob's
    # parent chain, depth and root still come out whole, from Alice's files in the lake.
    lake = str(tmp_path / "lake")
    assert materialize(MemorySource("bafyone", demo.source_records()), lake).ok
    before = _expression_rows(lake)
    bob_sentence = demo.uri(demo.BOB, demo.EXPR, "3kbob0000000a")
    assert before[bob_sentence][1] == 2  # paragraph, then document

    failing = _Failing(MemorySource("bafytwo", demo.source_records()), demo.ALICE)
    summary = materialize(failing, lake, dids=[demo.ALICE, demo.BOB] if partial else None)
    assert [did for did, _ in summary.failed] == [demo.ALICE]
    assert _expression_rows(lake) == before


def test_an_actor_whose_second_file_is_refused_keeps_the_manifest_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = f"memory://hostile-{tmp_path.name}/lake"
    assert materialize(MemorySource("bafyone", demo.source_records()), lake).ok
    from fsspec.implementations.memory import MemoryFileSystem

    real = MemoryFileSystem.pipe_file
    seen: list[str] = []

    def refuse_bobs_second(self: MemoryFileSystem, path: str, *args: object, **kwargs: object) -> object:
        if "bob.example.com" in path and path.endswith(".parquet"):
            seen.append(path)
            if len(seen) == 2:
                raise OSError(28, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "pipe_file", refuse_bobs_second)
    summary = materialize(MemorySource("bafytwo", demo.source_records()), lake)
    monkeypatch.undo()

    ((did, error),) = summary.failed
    assert did == demo.BOB
    assert error.type_name == "ViewsError"
    manifest = read_manifest(lake)
    assert manifest is not None
    assert manifest.actor_commits[demo.BOB] == "bafyone"  # stale: the next run rewrites it whole
    fs, root = fsspec.core.url_to_fs(lake)
    for entry in manifest.tables:  # every row count the manifest states is what the file holds
        for actor, rows in entry.partitions.items():
            path = partition_path(root, entry.key, entry.version, actor, entry.files[actor])
            with fs.open(path, "rb") as handle:
                assert pq.read_metadata(handle).num_rows == rows, (path, rows)
            if actor == demo.BOB:  # still bob's files from the first run
                assert pq.read_metadata(fs.open(path, "rb")).metadata[b"lairs_etl.commit"] == b"bafyone"
