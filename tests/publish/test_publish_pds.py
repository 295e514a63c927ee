"""Publishing against the real reference PDS: exact, minimal, ordered, resumable, safe."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, PublishError
from lairs_etl.publish import Plan, PublishOptions, publish, record_references
from lairs_etl.sync import Stage, SyncOptions, Target, sync
from tests.publish.conftest import demo_repo, local_cids, pds_records

if TYPE_CHECKING:
    from lairs_etl.localpds import Account

pytestmark = pytest.mark.usefixtures("local_pds")


def _publish(repo, account: Account, client: XrpcClient, resolver: IdentityResolver, **kw):  # type: ignore[no-untyped-def]
    return publish(
        repo, "main", account.did, client=client, resolver=resolver, password=lambda: account.password, **kw
    )


def test_demo_corpus_lands_byte_identical_in_reference_order(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("pub")
    repo = demo_repo(None, account.did)
    plans: list[Plan] = []
    dry = _publish(repo, account, client, resolver, options=PublishOptions(on_plan=plans.append))
    assert dry.plan.count("create") == 25
    assert dry.writes == 0
    assert pds_records(account) == {}
    report = _publish(repo, account, client, resolver, apply=True)
    assert pds_records(account) == local_cids(repo, account.did)  # same URIs, same CIDs
    assert report.writes == 25
    assert report.calls == 1
    # targets precede referrers unless they share a cycle; the three demo cycles stay whole
    order = {w.uri: i for i, g in enumerate(plans[0].groups) for w in g}
    for write in plans[0].writes:
        for target in record_references(write.uri.collection, write.value):  # type: ignore[arg-type]
            assert order[target] <= order[write.uri]
    assert plans[0].summary()["cycles"] == 2 + 5  # corpus/eprint, ontology/persona, 5 expression/media
    # item 6: the repository records the PDS commit, so the next pull has nothing to do
    state = repo.actors("main")[account.did]
    assert state.pds_rev == account.latest_commit().rev
    no_lake = SyncOptions(stages=frozenset(Stage) - {Stage.PARQUET})
    pulled = sync([Target(account.did)], client=client, resolver=resolver, repository=repo, options=no_lake)
    assert [a.status for a in pulled.actors] == ["unchanged"]


def test_publishing_again_writes_nothing(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("pub")
    repo = demo_repo(None, account.did)
    _publish(repo, account, client, resolver, apply=True)
    before = account.latest_commit()
    again = _publish(repo, account, client, resolver, apply=True)
    assert again.writes == 0
    assert again.calls == 0
    assert again.plan.unchanged == 25
    assert account.latest_commit() == before


def test_ten_changes_and_five_deletions_are_exactly_fifteen_writes(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("pub")
    repo = demo_repo(None, account.did)
    _publish(repo, account, client, resolver, apply=True)
    records = list(repo.iter_records("main", dids=[account.did]))
    memberships = [r for r in records if r.uri.collection == "pub.layers.corpus.membership"]
    changed = [r for r in records if r.uri.collection != "pub.layers.corpus.membership"][:10]
    entries = []
    for r in changed:
        value = r.value()
        assert isinstance(value, dict)
        value["createdAt"] = "2026-02-02T00:00:00.000Z"
        block = cbor.encode_json_form(value)
        entries.append((str(r.uri.collection), str(r.uri.rkey), cid_for_dag_cbor(block), block))
    repo.stage(
        account.did,
        entries,
        replace=False,
        deleted=[(str(r.uri.collection), str(r.uri.rkey)) for r in memberships],
    )
    repo.commit("edit", "tests")
    report = _publish(repo, account, client, resolver, apply=True)
    assert report.writes == 15
    assert (report.plan.count("update"), report.plan.count("delete"), report.plan.count("create")) == (
        10,
        5,
        0,
    )
    assert pds_records(account) == local_cids(repo, account.did)


def test_a_concurrent_write_is_caught_by_swap_commit_and_replanned(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("pub")
    repo = demo_repo(None, account.did)
    plans: list[Plan] = []

    def meddle(plan: Plan) -> None:
        plans.append(plan)
        if len(plans) == 1:  # someone else writes between our plan and our apply
            account.create_record("com.example.note", {"$type": "com.example.note", "text": "mine"})

    report = _publish(repo, account, client, resolver, apply=True, options=PublishOptions(on_plan=meddle))
    assert report.replans == 1
    assert len(plans) == 2
    assert plans[1].base_commit != plans[0].base_commit  # the second plan saw the other write
    assert pds_records(account) == local_cids(repo, account.did)
    assert len(account.list_records("com.example.note")) == 1  # untracked records are left alone


def test_a_revision_without_the_actor_is_refused(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account, other = pds_account("pub"), pds_account("oth")
    repo = demo_repo(None, other.did)
    with pytest.raises(ConfigError, match="delete them all"):
        _publish(repo, account, client, resolver, apply=True)


def test_a_wrong_password_writes_nothing(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account, other = pds_account("pub"), pds_account("oth")
    repo = demo_repo(None, account.did)
    # the session logs in by the actor's DID, so another account's password cannot open it
    with pytest.raises(PublishError, match="could not log in"):
        publish(
            repo,
            "main",
            account.did,
            apply=True,
            client=client,
            resolver=resolver,
            password=lambda: other.password,
        )
    assert pds_records(account) == {}
