"""After a publish the repository records the PDS commit, on the branch the revision is."""

from __future__ import annotations

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.publish.record import record_published
from tests.publish.conftest import demo_repo

DID = "did:plc:abcdefghijklmnopqrstuvwx"
PDS_COMMIT = cid_for_dag_cbor(b"\xa1apa")


def test_a_branch_gets_a_commit_with_the_pds_commit_and_the_same_records() -> None:
    repo = demo_repo(None, DID)
    published = repo.resolve("main")
    recorded, note = record_published(repo, "main", published, DID, pds_commit=PDS_COMMIT, pds_rev="3kabc")
    assert note is None
    assert recorded == repo.head() != published
    before, after = repo.actors(published)[DID], repo.actors("main")[DID]
    assert (after.pds_commit, after.pds_rev) == (PDS_COMMIT, "3kabc")
    assert after.root == before.root  # records untouched
    again, _ = record_published(repo, "main", recorded, DID, pds_commit=PDS_COMMIT, pds_rev="3kabc")  # type: ignore[arg-type]
    assert again == recorded  # already recorded: no new commit


def test_a_tag_at_the_head_records_on_the_default_branch() -> None:
    repo = demo_repo(None, DID)
    published = repo.tag("v1")
    recorded, _ = record_published(repo, "v1", published, DID, pds_commit=PDS_COMMIT, pds_rev="3kabc")
    assert recorded == repo.head()
    assert repo.tags()["v1"] == published  # tags never move


def test_a_tag_behind_the_branch_is_not_recorded() -> None:
    repo = demo_repo(None, DID)
    published = repo.tag("v1")
    repo.stage(DID, [], replace=False, deleted=[("pub.layers.corpus.corpus", next(iter(_rkeys(repo))))])
    repo.commit("moved on", "tests")
    head = repo.head()
    recorded, note = record_published(repo, "v1", published, DID, pds_commit=PDS_COMMIT, pds_rev="3kabc")
    assert recorded is None
    assert note is not None
    assert repo.head() == head


def _rkeys(repo) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(r.uri.rkey) for r in repo.iter_records("main", collections=["pub.layers.corpus.corpus"])]
