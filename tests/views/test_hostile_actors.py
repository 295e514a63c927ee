"""One actor never sinks the lake: maximal identifiers and per-actor failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from pathlib import Path

import pyarrow.parquet as pq

from lairs_etl.errors import UnexpectedError
from lairs_etl.views import MemorySource, SourceRecord, build_warehouse, materialize, read_manifest, run_query
from lairs_etl.views.layout import MAX_ACTOR_COMPONENT
from tests.views import demo

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
    (part,) = [
        p for p in Path(lake, "records").rglob("part-0.parquet") if "aaaa" in str(p) and demo.EXPR in str(p)
    ]
    assert pq.read_metadata(part).metadata[b"lairs_etl.did"] == LONG_WEB.encode()
    assert set(pq.read_table(part).column("did").to_pylist()) == {LONG_WEB}
    assert LONG_WEB in read_manifest(lake).actor_commits  # type: ignore[union-attr]
    db = str(tmp_path / "w.duckdb")
    build_warehouse(lake, db)
    rows = run_query(db, "SELECT did, count(*) AS n FROM expressions GROUP BY did ORDER BY did").to_pylist()
    assert {r["did"] for r in rows} == {demo.ALICE, LONG_WEB}
    # A rewrite of just that actor replaces its files and nothing else's.
    again = materialize(MemorySource("bafycommit2", records), lake, dids=[LONG_WEB])
    assert again.ok
    assert again.files_removed == 0


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
    alice = next(p for p in Path(lake).rglob("*.parquet") if "alice" in str(p))
    assert pq.read_metadata(alice).metadata[b"lairs_etl.commit"] == b"bafytwo"
    # Once the actor reads again, a stale-only run brings it up to date.
    fixed = materialize(MemorySource("bafytwo", demo.source_records()), lake, stale_only=True)
    assert fixed.ok
    assert fixed.actors == (demo.BOB,)
