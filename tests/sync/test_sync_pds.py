"""The sync engine against the real reference PDS: interop of roots and CIDs, incremental diffs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.fetch import FetchMode
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Stage, Status, SyncOptions, SyncReport, Target, sync

pytestmark = pytest.mark.pds

LAYERS = ("pub.layers.expression.expression", "pub.layers.annotation.annotationLayer")


def record(collection: str, i: int, version: int = 0) -> dict[str, object]:
    return {"$type": collection, "text": f"record {i} v{version}", "createdAt": "2026-01-01T00:00:00.000Z"}


@pytest.fixture
def layers_account(pds_account: Callable[..., Account]) -> Account:
    account = pds_account("pl")
    for collection in LAYERS:
        account.bulk_create(collection, [record(collection, i) for i in range(6)])
    return account


def pds_data(account: Account) -> Cid:
    """The ``data`` of the actor's current PDS commit, read from its own CAR."""
    reader = read_car(account.get_repo())
    [root] = reader.roots
    blocks = dict(reader)
    data = cbor.decode(blocks[root])["data"]
    assert isinstance(data, Cid)
    return data


def pds_cids(account: Account, collections: tuple[str, ...] = LAYERS) -> dict[str, Cid]:
    return {r["uri"]: parse_cid(r["cid"]) for c in collections for r in account.list_records(c)}


_NO_LAKE = SyncOptions(stages=frozenset(Stage) - {Stage.PARQUET})


def pull(
    repo: Repository,
    actors: list[str],
    client: XrpcClient,
    resolver: IdentityResolver,
    options: SyncOptions = _NO_LAKE,
) -> SyncReport:
    return sync(
        [Target(a) for a in actors], client=client, resolver=resolver, repository=repo, options=options
    )


def do_pull(
    repo: Repository,
    account: Account,
    client: XrpcClient,
    resolver: IdentityResolver,
    options: SyncOptions = _NO_LAKE,
) -> SyncReport:
    report = pull(repo, [account.did], client, resolver, options)
    assert report.ok, report.to_json()
    return report


def test_pull_of_a_layers_only_actor_mirrors_the_pds(
    tmp_path: Path, layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    report = do_pull(repo, layers_account, client, resolver)
    [outcome] = report.actors
    assert outcome.status == Status.COMMITTED
    assert report.commit == repo.head().encode()  # type: ignore[union-attr]
    state = repo.actors()[layers_account.did]
    assert state.root == pds_data(layers_account)
    assert {str(r.uri): r.cid for r in repo.iter_records()} == pds_cids(layers_account)
    assert state.pds_rev == layers_account.latest_commit().rev
    assert state.pds_commit == layers_account.latest_commit().cid
    assert (state.valid_count or 0) + (state.invalid_count or 0) == 12  # invalid ones are kept
    assert repo.fsck().ok
    again = do_pull(repo, layers_account, client, resolver)
    assert again.actors[0].status == Status.UNCHANGED
    assert again.commit == report.commit


@pytest.mark.parametrize("mode", ["car", "tree"])
def test_incremental_pull_diff_names_exactly_the_pds_changes(
    tmp_path: Path, layers_account: Account, client: XrpcClient, resolver: IdentityResolver, mode: FetchMode
) -> None:
    options = replace(_NO_LAKE, fetch_mode=mode)
    repo = Repository.init(str(tmp_path / "repo"))
    full = do_pull(repo, layers_account, client, resolver, options)
    first = full.commit
    listed = layers_account.list_records(LAYERS[0])
    rkey = [str(r["uri"]).rsplit("/", 1)[1] for r in listed]
    created = layers_account.create_record(LAYERS[1], record(LAYERS[1], 99))
    updated = layers_account.put_record(LAYERS[0], rkey[0], record(LAYERS[0], 0, version=1))
    layers_account.delete_record(LAYERS[0], rkey[1])
    report = do_pull(repo, layers_account, client, resolver, options)
    [outcome] = report.actors
    assert outcome.incremental
    assert outcome.mode == mode
    assert outcome.bytes_fetched < full.actors[0].bytes_fetched
    assert outcome.records == 2
    assert outcome.deleted == 1
    assert first is not None
    assert report.commit is not None
    changes = {(str(c.uri), c.kind, c.new_cid) for c in repo.diff(first, report.commit)}
    assert changes == {
        (str(created.uri), "added", created.cid),
        (str(updated.uri), "changed", updated.cid),
        (f"at://{layers_account.did}/{LAYERS[0]}/{rkey[1]}", "removed", None),
    }
    state = repo.actors()[layers_account.did]
    assert state.root == pds_data(layers_account)
    assert (state.valid_count or 0) + (state.invalid_count or 0) == 12
    assert repo.fsck().ok


@pytest.mark.parametrize("mode", ["car", "tree"])
def test_an_actor_with_untracked_collections_falls_back_to_a_full_pull(
    tmp_path: Path,
    pds_account: Callable[..., Account],
    client: XrpcClient,
    resolver: IdentityResolver,
    mode: FetchMode,
) -> None:
    options = replace(_NO_LAKE, fetch_mode=mode)
    account = pds_account("mx")
    account.bulk_create(LAYERS[0], [record(LAYERS[0], i) for i in range(5)])
    account.bulk_create("com.example.post", [{"$type": "com.example.post", "n": str(i)} for i in range(30)])
    repo = Repository.init(str(tmp_path / "repo"))
    first = do_pull(repo, account, client, resolver, options).commit
    account.create_record(LAYERS[0], record(LAYERS[0], 7))
    account.create_record("com.example.post", {"$type": "com.example.post", "text": "x"})
    second = do_pull(repo, account, client, resolver, options)
    assert not second.actors[0].incremental
    assert second.commit is not None
    assert first is not None
    assert [c.kind for c in repo.diff(first, second.commit)] == ["added"]
    assert {str(r.uri): r.cid for r in repo.iter_records()} == pds_cids(account, (LAYERS[0],))


def test_a_failing_actor_does_not_stop_the_others(
    tmp_path: Path, layers_account: Account, client: XrpcClient, resolver: IdentityResolver
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    missing = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    report = pull(repo, [missing, layers_account.did], client, resolver)
    assert not report.ok
    assert [a.status for a in report.actors] == ["failed", "committed"]
    assert report.actors[0].error_type is not None
    assert set(repo.actors()) == {layers_account.did}
