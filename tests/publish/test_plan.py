"""Plans compare by CID: identical records cost nothing; only tracked records are deleted."""

from __future__ import annotations

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.syntax import Did
from lairs_etl.publish import LocalRecord, RemoteRecord, RemoteState, make_plan

DID = Did("did:plc:abcdefghijklmnopqrstuvwx")
COMMIT = cid_for_dag_cbor(b"\xa1acb")
E = "pub.layers.expression.expression"


def _cid(tag: str):  # type: ignore[no-untyped-def]
    return cid_for_dag_cbor(tag.encode())


def test_creates_updates_deletes_and_unchanged() -> None:
    local = {
        f"{E}/3aaaaaaaaaaa2": LocalRecord(_cid("same"), {}),
        f"{E}/3aaaaaaaaaaa3": LocalRecord(_cid("new version"), {}),
        f"{E}/3aaaaaaaaaaa4": LocalRecord(_cid("brand new"), {}),
    }
    remote = RemoteState(
        DID,
        COMMIT,
        "3zzzzzzzzzzz2",
        {
            f"{E}/3aaaaaaaaaaa2": RemoteRecord(_cid("same")),
            f"{E}/3aaaaaaaaaaa3": RemoteRecord(_cid("old version")),
            f"{E}/3aaaaaaaaaaa5": RemoteRecord(_cid("gone")),
        },
    )
    plan = make_plan(local, remote)
    assert {(w.action, str(w.uri.rkey)) for w in plan.writes} == {
        ("update", "3aaaaaaaaaaa3"),
        ("create", "3aaaaaaaaaaa4"),
        ("delete", "3aaaaaaaaaaa5"),
    }
    assert plan.unchanged == 1
    assert plan.base_commit == COMMIT
    assert plan.summary()["deletes"] == 1


def test_identical_state_is_an_empty_plan() -> None:
    local = {f"{E}/3aaaaaaaaaaa2": LocalRecord(_cid("x"), {})}
    plan = make_plan(local, RemoteState(DID, COMMIT, "r", {f"{E}/3aaaaaaaaaaa2": RemoteRecord(_cid("x"))}))
    assert plan.empty
    assert plan.writes == ()
