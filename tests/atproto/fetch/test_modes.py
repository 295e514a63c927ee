"""The three modes against the real PDS: the same records, CIDs and bytes; auto's choice."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.fetch import FetchResult, fetch_actor
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.mst import build
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account
from tests.atproto.fetch.conftest import LAYERS, layers_record

pytestmark = pytest.mark.pds


def _as_rows(result: FetchResult) -> list[tuple[str, str, object]]:
    return [(str(r.uri), r.cid.encode(), r.value) for r in result.records]


def test_car_tree_and_records_modes_agree(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    results = {
        mode: fetch_actor(
            str(layers_account.handle), collections=LAYERS, mode=mode, client=client, resolver=resolver
        )
        for mode in ("car", "tree", "records")
    }
    expected = sorted(
        (r["uri"], r["cid"], r["value"]) for c in LAYERS for r in layers_account.list_records(c)
    )
    assert len(expected) == 12
    for mode, result in results.items():
        assert sorted(_as_rows(result)) == expected, mode
        assert result.did == layers_account.did
        assert result.mode == mode
    assert results["car"].rev == results["tree"].rev == layers_account.latest_commit().rev
    assert results["car"].authenticated
    assert results["tree"].authenticated
    assert not results["records"].authenticated
    assert results["records"].verified


def test_records_carry_blocks_that_hash_to_their_cids(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    result = fetch_actor(layers_account.did, mode="car", client=client, resolver=resolver)
    for record in result.records:
        assert cid_for_dag_cbor(record.block) == record.cid
        assert cbor.encode_json_form(record.value) == record.block
    sample = next(r for r in result.records if r.value["index"] == 1)  # type: ignore[index,call-overload]
    assert sample.value["ref"] == {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}  # type: ignore[index,call-overload]
    assert sample.value["digest"] == {"$bytes": "AQEBAQE"}  # type: ignore[index,call-overload]


def test_collection_filter_limits_every_mode(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    for mode in ("car", "tree", "records"):
        result = fetch_actor(
            layers_account.did, collections=[LAYERS[1]], mode=mode, client=client, resolver=resolver
        )
        assert {r.uri.collection for r in result.records} == {LAYERS[1]}, mode
        assert len(result.records) == 4


def test_default_namespace_tracks_every_layers_collection(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    layers_account.create_record("app.bsky.feed.post", {"text": "hi", "createdAt": "2026-01-01T00:00:00Z"})
    for mode in ("car", "tree"):
        result = fetch_actor(layers_account.did, mode=mode, client=client, resolver=resolver)
        assert len(result.records) == 12, mode
        assert all(r.uri.collection in LAYERS for r in result.records)


def test_auto_uses_car_for_a_layers_only_account(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    result = fetch_actor(layers_account.did, client=client, resolver=resolver)
    assert result.mode == "car"
    assert len(result.records) == 12


@pytest.mark.slow
def test_tree_mode_on_a_mixed_account_transfers_a_small_fraction(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("mx")
    posts = [
        {
            "$type": "app.bsky.feed.post",
            "text": f"post number {i} " + "x" * 80,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        for i in range(3000)
    ]
    account.bulk_create("app.bsky.feed.post", posts)
    account.bulk_create(LAYERS[0], [layers_record(LAYERS[0], i) for i in range(100)])

    auto = fetch_actor(account.did, client=client, resolver=resolver)
    car = fetch_actor(account.did, mode="car", client=client, resolver=resolver)

    assert auto.mode == "tree"
    assert sorted(_as_rows(auto)) == sorted(_as_rows(car))
    assert len(auto.records) == 100
    assert auto.bytes_transferred * 5 < car.bytes_transferred, (auto.bytes_transferred, car.bytes_transferred)


def test_a_car_fetch_of_every_collection_hands_over_the_pds_tree(
    layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    whole = fetch_actor(layers_account.did, mode="car", client=client, resolver=resolver)
    built = build(sorted((f"{r.uri.collection}/{r.uri.rkey}", r.cid) for r in whole.records))
    assert built.root == whole.data
    assert dict(whole.tree) == built.blocks  # the very nodes a rebuild makes, none missing
    # A filter that leaves records out: the tree is not theirs, so none is handed over.
    part = fetch_actor(
        layers_account.did, collections=LAYERS[:1], mode="car", client=client, resolver=resolver
    )
    assert part.records
    assert part.tree == ()
