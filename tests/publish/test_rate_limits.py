"""429s: the publish waits for the advertised reset, then re-plans and resumes.

The reference PDS's write budget is hourly (5,000 points, a create costs 3), so a test
cannot wait for a real reset. Two tests share the proof instead:

* against a PDS with ``PDS_RATE_LIMITS_ENABLED=true``, a publish larger than the
  hourly budget is refused mid-way; it asks to sleep until the PDS's
  ``ratelimit-reset`` (the injected sleep stops it there, bounding wall time) and the
  PDS holds exactly the calls that landed;
* against the normal PDS, a 429 injected with a short reset is waited on and the
  publish resumes and completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import PublishError
from lairs_etl.publish import PublishOptions, publish
from tests.publish._publishing import apply_as
from tests.publish.conftest import demo_repo, local_cids, pds_records

if TYPE_CHECKING:
    from lairs_etl.localpds import Account, LocalPds, NodeEnv


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def limited_pds(node_env: NodeEnv) -> Iterator[LocalPds]:
    from lairs_etl.localpds import LocalPds

    with LocalPds(rate_limits=True, node_env=node_env) as pds:
        yield pds


def test_past_the_hourly_budget_the_publish_waits_for_the_reset(limited_pds: LocalPds) -> None:
    account = limited_pds.create_account(f"rl{time.time_ns() % 10**9}.test")
    repo = demo_repo(None, account.did, expressions=450)  # 1,805 creates = 5,415 points > 5,000
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise _Stop  # an hour is too long for a test: stop where the publish would sleep

    with XrpcClient(allow_private_hosts=True, rate_limit_budget_seconds=0) as client:
        resolver = IdentityResolver(client, plc_url=limited_pds.plc_url, handle_service=limited_pds.pds_url)
        with pytest.raises(_Stop):
            apply_as(account, repo, client, resolver, options=PublishOptions(sleep=sleep))
    assert len(waits) == 1
    assert 60 < waits[0] <= 3600
    landed = pds_records(account)
    assert 1400 < len(landed) < 1667  # whole calls until the budget ran out
    local = local_cids(repo, account.did)
    assert all(local[uri] == cid for uri, cid in landed.items())
    # with a wait budget shorter than the reset, a re-run stops cleanly, saying so
    with XrpcClient(allow_private_hosts=True, rate_limit_budget_seconds=0) as client:
        resolver = IdentityResolver(client, plc_url=limited_pds.plc_url, handle_service=limited_pds.pds_url)
        with pytest.raises(PublishError, match="rate limited") as stopped:
            publish(
                repo, "main", account.did, apply=True, client=client, resolver=resolver,
                password=lambda: account.password, options=PublishOptions(rate_limit_wait=10),
            )  # fmt: skip
    assert stopped.value.landed == ()
    assert len(pds_records(account)) == len(landed)


class _ThrottleOnce(httpx.BaseTransport):
    """Forwards to the real PDS, but answers the ``n``-th applyWrites with a 429."""

    def __init__(self, n: int, reset_in: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._n, self._reset_in, self._seen = n, reset_in, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("com.atproto.repo.applyWrites"):
            self._seen += 1
            if self._seen == self._n:
                reset = int(time.time() + self._reset_in)
                headers = {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                }
                return httpx.Response(
                    429, headers=headers, json={"error": "RateLimitExceeded", "message": "slow"}
                )
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_429_is_waited_on_then_the_publish_resumes(
    local_pds: LocalPds, pds_account: Callable[..., Account]
) -> None:
    account = pds_account("rl")
    repo = demo_repo(None, account.did, expressions=100)  # 405 records: 3 calls
    waits: list[float] = []
    transport = _ThrottleOnce(n=2, reset_in=30)
    with XrpcClient(transport=transport, allow_private_hosts=True, rate_limit_budget_seconds=0) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        report = apply_as(account, repo, client, resolver, options=PublishOptions(sleep=waits.append))
    assert len(waits) == 1
    assert 25 <= waits[0] <= 31
    assert report.writes == 405
    assert report.rate_limit_wait_seconds == waits[0]
    assert pds_records(account) == local_cids(repo, account.did)
