"""The Repository facade end to end: commit, refs, revisions, reads, fsck, gc, crashes."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.mst import build
from lairs_etl.errors import BlockHashMismatch, NotFoundError, RefConflictError, RepositoryCorruptError
from lairs_etl.repo.packset import PackSetReader
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import EDITOR_LIMIT, Provenance
from lairs_etl.repo.storage import Storage, open_storage

from ._helpers import CrashAfter, FaultyStorage

COLL = "pub.layers.expression.expression"
OTHER = "pub.layers.annotation.annotationLayer"
ALICE = "did:plc:alice000000000000000000"
BOB = "did:plc:bob00000000000000000000"
PROV = Provenance(fetched_at="2026-01-01T00:00:00Z", lexicon_hash="sha256-test")

Rec = tuple[str, str, Cid, bytes]


def rec(collection: str, n: int, salt: str = "") -> Rec:
    data = cbor.encode({"$type": collection, "text": f"{salt}{n}", "n": n})
    return collection, f"3k{n:011d}", cid_for_dag_cbor(data), data


def recs(count: int, salt: str = "", collection: str = COLL) -> list[Rec]:
    return [rec(collection, n, salt) for n in range(count)]


def keyed(records: list[Rec]) -> dict[str, Cid]:
    return {f"{c}/{r}": cid for c, r, cid, _ in records}


def memory_repo() -> Repository:
    return Repository.init(f"memory://lairs-repo-{uuid.uuid4().hex}")


@pytest.fixture
def repo(storage_url: tuple[str, dict[str, object]]) -> Repository:
    url, options = storage_url
    return Repository.init(url, options)


def test_commit_then_read_back_every_way(repo: Repository) -> None:
    alice, bob = recs(30) + recs(5, collection=OTHER), recs(7, "b")
    repo.stage(ALICE, alice, replace=True, provenance=PROV)
    repo.stage(BOB, bob, replace=True, provenance=PROV)
    first = repo.commit("two actors", "tests")
    assert repo.head() == first
    assert repo.resolve("main") == first
    actors = repo.actors("main")
    assert set(actors) == {ALICE, BOB}
    assert actors[ALICE].root == build(sorted(keyed(alice).items())).root
    assert actors[ALICE].lexicon_hash == "sha256-test"
    got = {str(r.uri): r.cid for r in repo.iter_records()}
    assert len(got) == len(alice) + len(bob)
    only = list(repo.read_collection("main", ALICE, OTHER))
    assert [r.uri.rkey for r in only] == [r for _, r, _, _ in recs(5, collection=OTHER)]
    one = repo.read_record("main", f"at://{ALICE}/{COLL}/3k00000000003")
    assert one.value() == {"$type": COLL, "text": "3", "n": 3}
    assert one.cid == alice[3][2]
    with pytest.raises(NotFoundError):
        repo.read_record("main", f"at://{ALICE}/{COLL}/3k99999999999")
    with pytest.raises(NotFoundError):
        repo.read_record("main", f"at://did:plc:nobody/{COLL}/3k00000000003")


def test_partial_commit_carries_the_other_actors_over(repo: Repository) -> None:
    repo.stage(ALICE, recs(10), replace=True, provenance=PROV)
    repo.stage(BOB, recs(10, "b"), replace=True, provenance=PROV)
    first = repo.commit("both", "tests")
    before = repo.actors(first)
    repo.stage(ALICE, [rec(COLL, 50)], replace=False, deleted=[(COLL, "3k00000000001")], provenance=PROV)
    second = repo.commit("alice only", "tests")
    after = repo.actors(second)
    assert after[BOB] == before[BOB]
    assert after[ALICE].root != before[ALICE].root
    assert [e.cid for e in repo.log()] == [second, first]
    assert repo.show(second).commit.parents == (first,)
    kinds = {(str(c.uri), c.kind) for c in repo.diff(first, second)}
    assert kinds == {
        (f"at://{ALICE}/{COLL}/3k00000000050", "added"),
        (f"at://{ALICE}/{COLL}/3k00000000001", "removed"),
    }


@pytest.mark.parametrize("writes", [3, EDITOR_LIMIT + 40])
def test_incremental_stage_gives_the_tree_a_full_build_gives(writes: int) -> None:
    repo = memory_repo()
    base = recs(600)
    repo.stage(ALICE, base, replace=True, provenance=PROV)
    repo.commit("base", "tests")
    puts = [rec(COLL, n, "new") for n in range(0, 2 * writes, 2)]
    gone = [(COLL, f"3k{n:011d}") for n in range(1, writes, 2)]
    repo.stage(ALICE, puts, replace=False, deleted=gone, provenance=PROV)
    repo.commit("edit", "tests")
    expected = keyed(base)
    for c, r in gone:
        expected.pop(f"{c}/{r}")
    expected.update(keyed(puts))
    assert repo.actors()[ALICE].root == build(sorted(expected.items())).root
    assert {f"{r.uri.collection}/{r.uri.rkey}": r.cid for r in repo.iter_records()} == expected
    assert repo.fsck().ok


def test_a_verified_tree_given_with_the_records_is_adopted_and_later_writes_drop_it() -> None:
    repo = memory_repo()
    records = recs(300)
    tree = build(sorted(keyed(records).items()))
    repo.stage(ALICE, records, replace=True, provenance=PROV, tree=(tree.root, tree.blocks.items()))
    repo.commit("adopted", "tests")
    assert repo.actors()[ALICE].root == tree.root
    assert {f"{r.uri.collection}/{r.uri.rkey}": r.cid for r in repo.iter_records()} == keyed(records)
    assert repo.fsck().ok  # every node of the adopted tree was written
    # A write staged after the tree makes it stale: the commit builds the tree instead.
    more = [rec(COLL, 999)]
    repo.stage(BOB, records, replace=True, provenance=PROV, tree=(tree.root, tree.blocks.items()))
    repo.stage(BOB, more, replace=False, provenance=PROV)
    repo.commit("stale tree", "tests")
    assert repo.actors()[BOB].root == build(sorted(keyed(records + more).items())).root
    assert repo.fsck().ok


def _pack_blocks(storage: Storage) -> int:
    value = Refs(storage).get("heads", "main")
    return PackSetReader(storage, value.packset).packset.blocks


def test_committing_the_same_records_twice_adds_no_tree_or_record_blocks() -> None:
    repo = memory_repo()
    records = recs(200) + recs(20, collection=OTHER)
    repo.stage(ALICE, records, replace=True, provenance=PROV)
    first = repo.commit("once", "tests")
    blocks = _pack_blocks(repo.storage)
    repo.stage(ALICE, list(reversed(records)), replace=True, provenance=PROV)
    assert repo.commit("twice", "tests") == first  # identical state: no commit at all
    later = Provenance(fetched_at="2026-02-01T00:00:00Z", lexicon_hash="sha256-test")
    repo.stage(ALICE, records, replace=True, provenance=later)
    second = repo.commit("refetched", "tests")
    assert second != first
    assert repo.actors(second)[ALICE].root == repo.actors(first)[ALICE].root
    # Only the new commit, actor-map root and one shard are new.
    assert _pack_blocks(repo.storage) == blocks + 3


def test_stage_refuses_a_record_whose_bytes_do_not_match_its_cid() -> None:
    repo = memory_repo()
    collection, rkey, _, data = rec(COLL, 1)
    wrong = rec(COLL, 2)[2]
    with pytest.raises(BlockHashMismatch):
        repo.stage(ALICE, [(collection, rkey, wrong, data)], replace=True)


def test_revisions_resolve_by_branch_tag_cid_and_prefix() -> None:
    repo = memory_repo()
    repo.stage(ALICE, recs(3), replace=True, provenance=PROV)
    first = repo.commit("one", "tests")
    repo.stage(ALICE, recs(4), replace=True, provenance=PROV)
    second = repo.commit("two", "tests")
    assert repo.tag("v1", first.encode()) == first
    assert repo.tag("v1", first.encode()) == first  # same commit: a no-op
    with pytest.raises(RefConflictError):
        repo.tag("v1", "main")
    assert repo.resolve("v1") == first
    assert repo.resolve(second.encode()) == second
    assert repo.resolve(first.encode()[:20]) == first
    assert len(list(repo.iter_records("v1"))) == 3
    assert repo.tags() == {"v1": first}
    assert repo.branches() == {"main": second}
    for bad in ("nope", "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"):
        with pytest.raises(NotFoundError):
            repo.resolve(bad)


def test_expected_head_pins_the_commit() -> None:
    repo = memory_repo()
    repo.stage(ALICE, recs(3), replace=True, provenance=PROV)
    first = repo.commit("one", "tests")
    repo.stage(BOB, recs(3), replace=True, provenance=PROV)
    repo.commit("two", "tests")
    repo.stage(ALICE, recs(9), replace=True, provenance=PROV)
    with pytest.raises(RefConflictError):
        repo.commit("stale", "tests", expected_head=first)
    assert repo.staged == (ALICE,)  # kept for the caller to retry


def test_a_racing_writer_is_rebased_not_lost() -> None:
    url = f"memory://lairs-race-{uuid.uuid4().hex}"
    one, two = Repository.init(url), Repository.open(url)
    one.stage(ALICE, recs(5), replace=True, provenance=PROV)
    one.commit("alice", "tests")
    two.stage(BOB, recs(5, "b"), replace=True, provenance=PROV)
    # ``two`` read no head before ``one`` committed; its commit lands on top anyway.
    head = two.commit("bob", "tests")
    assert set(two.actors(head)) == {ALICE, BOB}
    assert len(list(two.log())) == 2


def test_open_of_a_missing_repository_is_not_found(tmp_path: object) -> None:
    with pytest.raises(NotFoundError):
        Repository.open(f"memory://lairs-none-{uuid.uuid4().hex}")


def test_fsck_finds_a_damaged_pack_and_gc_removes_leftovers(tmp_path: object) -> None:
    repo = memory_repo()
    repo.stage(ALICE, recs(50), replace=True, provenance=PROV)
    repo.commit("one", "tests")
    assert repo.fsck().ok
    # A commit that crashes after writing its objects leaves garbage, never damage.
    repo.stage(BOB, recs(5), replace=True, provenance=PROV)
    faulty = FaultyStorage(repo.storage, 3)
    crashed = Repository(faulty)
    crashed.stage(BOB, recs(5), replace=True, provenance=PROV)
    with pytest.raises(CrashAfter):
        crashed.commit("crash", "tests")
    assert repo.gc(grace_seconds=0).deleted
    assert repo.fsck().ok
    [pack] = [o.key for o in repo.storage.list("packs/")]
    data = bytearray(repo.storage.get(pack))
    data[-5] ^= 0xFF
    repo.storage.put(pack, bytes(data))
    report = repo.fsck()
    assert not report.ok
    with pytest.raises(RepositoryCorruptError):
        report.raise_if_damaged()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.integers(0, 3), budget=st.integers(0, 3), size=st.integers(1, 40))
def test_a_crash_at_any_write_leaves_the_previous_head(before: int, budget: int, size: int) -> None:
    url = f"memory://lairs-crash-{uuid.uuid4().hex}"
    repo = Repository.init(url)
    for n in range(before):
        repo.stage(f"did:plc:actor{n}", recs(5, f"{n}-"), replace=True, provenance=PROV)
        repo.commit(f"c{n}", "tests")
    head = repo.head()
    crashed = Repository(FaultyStorage(open_storage(url), budget))
    crashed.stage(ALICE, recs(size, "crash"), replace=True, provenance=PROV)
    with pytest.raises(CrashAfter):
        crashed.commit("crash", "tests")
    # A commit writes pack, index segment and packset, then moves the ref: any cut
    # before the move leaves the previous head, a whole history and a clean fsck.
    reopened = Repository.open(url)
    assert reopened.head() == head
    assert reopened.fsck().ok
    if head is not None:
        assert len(list(reopened.log())) == before
    reopened.stage(ALICE, recs(size, "crash"), replace=True, provenance=PROV)
    assert reopened.commit("after", "tests") != head
