"""Sync probes against the real reference PDS on loopback."""

from __future__ import annotations

import pytest

from lairs_etl.atproto.probes import describe_repo, get_latest_commit, list_repos, list_repos_by_collection
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import XrpcError
from lairs_etl.localpds import LocalPds
from tests.fixtures.pds import AccountFactory

pytestmark = pytest.mark.pds

EXPR = "pub.layers.expression.expression"


def test_latest_commit_and_list_repos_agree_with_the_pds(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("pr")
    account.create_record(EXPR, {"$type": EXPR, "text": "a"})
    head = account.latest_commit()

    cid, rev = get_latest_commit(client, local_pds.pds_url, account.did)
    assert (cid, rev) == (head.cid, head.rev)

    rows = {row.did: row for row in list_repos(client, local_pds.pds_url)}
    assert (rows[account.did].head, rows[account.did].rev, rows[account.did].active) == (cid, rev, True)


def test_describe_repo(client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory) -> None:
    account = pds_account("ds")
    account.create_record(EXPR, {"$type": EXPR, "text": "a"})
    described = describe_repo(client, local_pds.pds_url, account.did)
    assert (described.handle, described.handle_is_correct) == (account.handle, True)
    assert EXPR in described.collections


def test_a_write_moves_the_rev_that_list_repos_reports(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("mv")
    before = {r.did: r.rev for r in list_repos(client, local_pds.pds_url)}[account.did]
    account.create_record(EXPR, {"$type": EXPR, "text": "b"})
    after = {r.did: r.rev for r in list_repos(client, local_pds.pds_url)}[account.did]
    assert after > before


def test_list_repos_pages(client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory) -> None:
    mine = {pds_account("pg").did for _ in range(3)}
    whole = [r.did for r in list_repos(client, local_pds.pds_url)]
    paged = [r.did for r in list_repos(client, local_pds.pds_url, page_size=2)]
    assert paged == whole
    assert mine <= set(paged)
    assert len(paged) == len(set(paged))


def test_errors_carry_the_xrpc_name(client: XrpcClient, local_pds: LocalPds) -> None:
    with pytest.raises(XrpcError) as info:
        get_latest_commit(client, local_pds.pds_url, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    assert info.value.error == "RepoNotFound"
    # a PDS does not serve the relay-side listing
    with pytest.raises(XrpcError) as info:
        list(list_repos_by_collection(client, local_pds.pds_url, EXPR))
    assert info.value.status in range(400, 600)
