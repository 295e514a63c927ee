"""Discovery and change detection against the real PDS, without Dagster in the way."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.demo import minimal_record
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.records import record_types
from lairs_etl.sync.changes import ChangeState, detect_changes
from lairs_etl.sync.discovery import discover

pytestmark = pytest.mark.pds

CORPUS = "pub.layers.corpus.corpus"


@pytest.fixture
def network(local_pds: LocalPds) -> Iterator[tuple[XrpcClient, IdentityResolver]]:
    with XrpcClient(allow_private_hosts=True, max_retries=0) as client:
        yield client, IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)


def test_seeds_resolve_to_dids_and_bad_seeds_are_reported(
    network: tuple[XrpcClient, IdentityResolver], pds_account: Callable[..., Account]
) -> None:
    client, resolver = network
    alice = pds_account("seed")
    found = discover(
        client=client,
        resolver=resolver,
        collections=record_types(),
        seeds=[str(alice.handle), "nobody-here.test"],
    )
    assert set(found.found) == {alice.did}
    assert len(found.errors) == 1
    assert "nobody-here.test" in found.errors[0]


def test_known_and_unchanged_skipped_actors_are_not_described_again(
    network: tuple[XrpcClient, IdentityResolver], pds_account: Callable[..., Account], local_pds: LocalPds
) -> None:
    client, resolver = network
    empty = pds_account("empty")
    first = discover(
        client=client, resolver=resolver, collections=record_types(), pds_hosts=[local_pds.pds_url]
    )
    assert empty.did in first.skipped
    empty.create_record(CORPUS, minimal_record(CORPUS))  # its rev moves: described again, now found
    second = discover(
        client=client,
        resolver=resolver,
        collections=record_types(),
        pds_hosts=[local_pds.pds_url],
        known=set(first.found),
        skipped=first.skipped,
    )
    assert empty.did in second.found
    assert not set(first.found) & set(second.found)


def test_actors_outside_configured_hosts_are_resolved_then_compared(
    network: tuple[XrpcClient, IdentityResolver], pds_account: Callable[..., Account], local_pds: LocalPds
) -> None:
    client, resolver = network
    actor = pds_account("chg")
    actor.create_record(CORPUS, minimal_record(CORPUS))
    tick = detect_changes([actor.did], client=client, resolver=resolver, state=ChangeState())
    assert [c.did for c in tick.changed] == [actor.did]
    assert tick.state.hosts[actor.did] == local_pds.pds_url
    again = detect_changes([actor.did], client=client, resolver=resolver, state=tick.state)
    assert again.changed == []  # now listed through the learnt host, rev unchanged
    assert again.requests == 1
    moved = actor.create_record(CORPUS, minimal_record(CORPUS))
    assert moved.uri
    third = detect_changes([actor.did], client=client, resolver=resolver, state=again.state)
    assert [c.did for c in third.changed] == [actor.did]


def test_max_runs_bounds_a_tick_and_defers_the_rest(
    network: tuple[XrpcClient, IdentityResolver], pds_account: Callable[..., Account], local_pds: LocalPds
) -> None:
    client, resolver = network
    actors = [pds_account("cap") for _ in range(3)]
    dids = [a.did for a in actors]
    first = detect_changes(
        dids, client=client, resolver=resolver, state=ChangeState(), pds_hosts=[local_pds.pds_url], max_runs=2
    )
    assert len(first.changed) == 2
    second = detect_changes(
        dids, client=client, resolver=resolver, state=first.state, pds_hosts=[local_pds.pds_url], max_runs=2
    )
    assert {c.did for c in first.changed} | {c.did for c in second.changed} == set(dids)
    assert len(second.changed) == 1
