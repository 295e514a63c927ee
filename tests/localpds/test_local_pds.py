"""The local reference PDS + PLC: identity, records, CAR export, bulk seeding, admin."""

from __future__ import annotations

import httpx
import libipld
import pytest

from lairs_etl.atproto.cid import parse_cid
from lairs_etl.errors import XrpcError
from lairs_etl.localpds import Account, LocalPds
from tests.fixtures.pds import AccountFactory

pytestmark = pytest.mark.pds

EXPRESSION = "pub.layers.expression.expression"
SEGMENTATION = "pub.layers.segmentation.segmentation"


def _car_blocks(car: bytes) -> tuple[list[str], set[str]]:
    header, blocks = libipld.decode_car(car)
    roots = [parse_cid(root).encode() for root in header["roots"]]
    return roots, {parse_cid(cid).encode() for cid in blocks}


def test_health_reports_the_pinned_reference_version(local_pds: LocalPds) -> None:
    assert httpx.get(f"{local_pds.pds_url}/xrpc/_health").json() == {"version": "0.5.35"}


def test_new_account_is_a_did_plc_whose_document_names_this_pds(
    local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account()
    assert account.did.startswith("did:plc:")
    document = httpx.get(f"{local_pds.plc_url}/{account.did}").json()
    assert document["id"] == account.did
    assert f"at://{account.handle}" in document["alsoKnownAs"]
    services = {service["id"]: service["serviceEndpoint"] for service in document["service"]}
    assert services["#atproto_pds"] == local_pds.pds_url


def test_layers_records_are_listed_and_exported_in_the_car(pds_account: AccountFactory) -> None:
    account = pds_account()
    first = account.create_record(EXPRESSION, {"text": "one"})
    named = account.create_record(EXPRESSION, {"text": "two"}, rkey="named")
    segmentation = account.put_record(SEGMENTATION, "seg", {"expression": first.uri})
    updated = account.put_record(EXPRESSION, "named", {"text": "two, revised"})
    gone = account.create_record(EXPRESSION, {"text": "to delete"})
    assert gone.uri.rkey is not None
    account.delete_record(EXPRESSION, gone.uri.rkey)

    assert named.uri.rkey == "named"
    assert updated.uri == named.uri
    assert updated.cid != named.cid
    listed = {r["uri"]: (r["cid"], r["value"]) for r in account.list_records(EXPRESSION)}
    assert listed == {
        first.uri: (first.cid.encode(), {"$type": EXPRESSION, "text": "one"}),
        named.uri: (updated.cid.encode(), {"$type": EXPRESSION, "text": "two, revised"}),
    }
    assert [r["uri"] for r in account.list_records(SEGMENTATION)] == [segmentation.uri]

    roots, blocks = _car_blocks(account.get_repo())
    assert roots == [account.latest_commit().cid.encode()]
    assert {first.cid.encode(), updated.cid.encode(), segmentation.cid.encode()} <= blocks
    assert gone.cid.encode() not in blocks


def test_creating_an_existing_rkey_fails_but_put_record_upserts(pds_account: AccountFactory) -> None:
    account = pds_account()
    account.create_record(EXPRESSION, {"text": "a"}, rkey="k")
    with pytest.raises(XrpcError) as caught:
        account.create_record(EXPRESSION, {"text": "b"}, rkey="k")
    assert caught.value.status == 500
    account.put_record(EXPRESSION, "k", {"text": "b"})
    assert [r["value"]["text"] for r in account.list_records(EXPRESSION)] == ["b"]


@pytest.mark.slow
def test_bulk_create_seeds_2000_records_in_one_repo(pds_account: AccountFactory) -> None:
    account = pds_account()
    written = account.bulk_create(EXPRESSION, ({"text": f"record {i}"} for i in range(2000)))
    assert len({w.uri for w in written}) == 2000
    listed = account.list_records(EXPRESSION)
    assert sorted(r["value"]["text"] for r in listed) == sorted(f"record {i}" for i in range(2000))
    _, blocks = _car_blocks(account.get_repo())
    assert {w.cid.encode() for w in written} <= blocks


def test_since_export_holds_only_the_newer_blocks(pds_account: AccountFactory) -> None:
    account = pds_account()
    old = account.create_record(EXPRESSION, {"text": "old"})
    rev = account.latest_commit().rev
    new = account.create_record(EXPRESSION, {"text": "new"})
    _, blocks = _car_blocks(account.get_repo(since=rev))
    assert new.cid.encode() in blocks
    assert old.cid.encode() not in blocks


def test_takedown_and_deactivation_stop_repo_export_until_reverted(
    local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account: Account = pds_account()
    account.create_record(EXPRESSION, {"text": "x"})
    hiders = ((local_pds.takedown, "RepoTakendown"), (local_pds.deactivate_account, "RepoDeactivated"))
    for hide, error in hiders:
        hide(account.did)
        with pytest.raises(XrpcError) as caught:
            account.get_repo()
        assert caught.value.error == error
        hide(account.did, applied=False)
        assert account.get_repo()


def test_user_deactivation_is_reversible(pds_account: AccountFactory) -> None:
    account = pds_account()
    account.deactivate()
    with pytest.raises(XrpcError) as caught:
        account.get_repo()
    assert caught.value.error == "RepoDeactivated"
    account.activate()
    assert account.get_repo()
