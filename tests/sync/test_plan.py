"""The planner: what an actor's recorded state allows (no network)."""

from __future__ import annotations

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.repo.objects import ActorState
from lairs_etl.sync.actor import Plan, plan

TRACKED = ("pub.layers.annotation.annotationLayer", "pub.layers.expression.expression")
OURS = cid_for_dag_cbor(cbor.encode({"tree": "ours"}))
THEIRS = cid_for_dag_cbor(cbor.encode({"tree": "the pds's"}))


def _state(pds_data: Cid | None) -> ActorState:
    return ActorState(root=OURS, fetched_at="t", lexicon_hash="h", pds_rev="3aaa", pds_data=pds_data)


def test_a_mirrored_tree_is_synced_incrementally() -> None:
    assert plan(_state(OURS), TRACKED, TRACKED, "3bbb", incremental=True) == Plan("incremental", "3aaa")


def test_a_tree_of_its_own_goes_straight_to_a_full_fetch() -> None:
    # Untracked collections on the PDS: the local root is not the PDS's data, so the
    # PDS's diff cannot apply to it and trying would only cost round trips.
    assert plan(_state(THEIRS), TRACKED, TRACKED, "3bbb", incremental=True) == Plan("full")


def test_a_state_from_before_the_pds_data_was_recorded_still_tries_incrementally() -> None:
    assert plan(_state(None), TRACKED, TRACKED, "3bbb", incremental=True) == Plan("incremental", "3aaa")


def test_an_unchanged_rev_needs_nothing_whatever_the_tree() -> None:
    assert plan(_state(THEIRS), TRACKED, TRACKED, "3aaa", incremental=True) == Plan("unchanged")
