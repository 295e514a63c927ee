"""Repository-level diff: applying diff(A, B) to A gives B, and its cost follows the change."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.mst import EMPTY_ROOT
from lairs_etl.repo.changes import summarize
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance
from lairs_etl.repo.storage import open_storage

from ._helpers import CountingStorage

ACTORS = ["did:plc:aaaa", "did:plc:bbbb", "did:plc:cccc"]
COLLECTIONS = ["pub.layers.expression.expression", "pub.layers.annotation.annotationLayer"]
PROV = Provenance(fetched_at="2026-01-01T00:00:00Z", lexicon_hash="sha256-test")

# A state: actor -> {(collection, rkey): content version}
State = dict[str, dict[tuple[str, str], int]]

_keys = st.tuples(st.sampled_from(COLLECTIONS), st.integers(0, 60).map(lambda n: f"3k{n:011d}"))
_states = st.fixed_dictionaries({a: st.dictionaries(_keys, st.integers(0, 2), max_size=40) for a in ACTORS})


def _block(collection: str, rkey: str, version: int) -> tuple[Cid, bytes]:
    data = cbor.encode({"$type": collection, "rkey": rkey, "v": version})
    return cid_for_dag_cbor(data), data


def _commit(repo: Repository, state: State, message: str) -> Cid:
    for did, records in state.items():
        staged = [(c, r, *_block(c, r, v)) for (c, r), v in records.items()]
        repo.stage(did, staged, replace=True, provenance=PROV)
    return repo.commit(message, "tests", allow_empty=True)


def _roots(repo: Repository, rev: Cid) -> dict[str, Cid]:
    return {did: state.root for did, state in repo.actors(rev).items() if state.root != EMPTY_ROOT}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_states, b=_states)
def test_diff_applied_to_a_gives_b(a: State, b: State) -> None:
    repo = Repository.init(f"memory://lairs-diff-{uuid.uuid4().hex}")
    rev_a = _commit(repo, a, "A")
    rev_b = _commit(repo, b, "B")
    changes = list(repo.diff(rev_a, rev_b))
    # The slow oracle: the two states compared key by key.
    expected = {
        (did, c, r)
        for did in ACTORS
        for (c, r) in set(a[did]) | set(b[did])
        if a[did].get((c, r)) != b[did].get((c, r))
    }
    assert {(c.did, c.collection, c.rkey) for c in changes} == expected
    counts = summarize(changes)
    totals = [n.added + n.removed + n.changed for cols in counts.values() for n in cols.values()]
    assert sum(totals) == len(changes)
    # Replay: stage the diff's writes on a branch at A, reading new blocks from B.
    repo.tag("a", rev_a)
    replay = Repository(repo.storage)
    for did in ACTORS:
        mine = [c for c in changes if c.did == did]
        puts = [
            (c.collection, c.rkey, c.new_cid, repo.read_record(rev_b, str(c.uri)).block)
            for c in mine if c.new_cid is not None
        ]
        gone = [(c.collection, c.rkey) for c in mine if c.new_cid is None]
        replay.stage(did, puts, replace=False, deleted=gone, provenance=PROV)
    replay.storage.put("refs/heads/replay", repo.refs.get("tags", "a").encode())
    replayed = replay.commit("replay", "tests", branch="replay", allow_empty=True)
    assert _roots(repo, replayed) == _roots(repo, rev_b)
    assert list(repo.diff(replayed, rev_b)) == []


def test_diff_reads_only_what_changed() -> None:
    url = f"memory://lairs-diffcost-{uuid.uuid4().hex}"
    repo = Repository.init(url)
    big: State = {did: {(COLLECTIONS[0], f"3k{n:011d}"): 0 for n in range(2000)} for did in ACTORS}
    first = _commit(repo, big, "big")
    repo.stage(ACTORS[0], [(COLLECTIONS[0], "3k00000000007", *_block(COLLECTIONS[0], "3k00000000007", 1))],
               replace=False, provenance=PROV)
    second = repo.commit("one change", "tests")
    counting = CountingStorage(open_storage(url))
    changes = list(Repository(counting).diff(first, second))
    assert [(c.rkey, c.kind) for c in changes] == [("3k00000000007", "changed")]
    # The diff touches one path per tree; reading the same actor's collection whole, on a
    # fresh reader with the same cold caches, must cost many times more.
    full = CountingStorage(open_storage(url))
    assert sum(1 for _ in Repository(full).read_collection(second, ACTORS[0], COLLECTIONS[0])) == 2000
    assert counting.reads * 5 < full.reads, (counting.counts, full.counts)
