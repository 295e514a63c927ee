"""Transport faults a real server cannot produce on demand: resets mid-body, 5xx, 429.

The fetch retries through them and returns the same verified records, or fails with a
typed error once the retry or wait budget is spent. Also: auto falls back to the
records mode when the PDS lacks the sync endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from lairs_etl.atproto.fetch import FetchMode, FetchResult, fetch_actor
from lairs_etl.errors import RateLimitedError, RetriesExhaustedError, XrpcError
from tests.atproto.fetch.conftest import LAYERS, MockPds, Repo, StaticResolver

pytestmark = pytest.mark.pds

Fault = Callable[[httpx.Request], httpx.Response]


class _CutStream(httpx.SyncByteStream):
    """Sends the first part of a body, then the connection resets."""

    def __init__(self, head: bytes) -> None:
        self._head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        raise httpx.ReadError("connection reset by peer")


def _reset_mid_body(pds: MockPds) -> Fault:
    return lambda request: httpx.Response(200, stream=_CutStream(pds.car[: len(pds.car) // 2]))


def _status(code: int, **headers: str) -> Fault:
    return lambda request: httpx.Response(
        code, headers=headers, json={"error": "Oops", "message": "try later"}
    )


def _fetch(repo: Repo, pds: MockPds, mode: FetchMode, **client_options: object) -> FetchResult:
    with pds.client(**client_options) as client:
        return fetch_actor(
            repo.identity.did,
            collections=LAYERS,
            mode=mode,
            client=client,
            resolver=StaticResolver(repo.identity),
        )


@pytest.fixture
def clean(real_repo: Repo) -> FetchResult:
    return _fetch(real_repo, real_repo.mock(), "car")


def test_a_reset_mid_body_is_retried_whole(real_repo: Repo, clean: FetchResult) -> None:
    pds = real_repo.mock()
    pds.faults["com.atproto.sync.getRepo"] = [_reset_mid_body(pds), _reset_mid_body(pds)]
    result = _fetch(real_repo, pds, "car")
    assert pds.calls.count("com.atproto.sync.getRepo") == 3
    assert result.records == clean.records
    assert result.bytes_transferred == len(pds.car)


@pytest.mark.parametrize(
    ("mode", "nsid"), [("car", "com.atproto.sync.getRepo"), ("tree", "com.atproto.sync.getBlocks")]
)
def test_a_500_then_200_is_retried(real_repo: Repo, clean: FetchResult, mode: FetchMode, nsid: str) -> None:
    pds = real_repo.mock()
    pds.faults[nsid] = [_status(500), _status(502)]
    result = _fetch(real_repo, pds, mode)
    assert sorted(result.records, key=lambda r: r.uri) == sorted(clean.records, key=lambda r: r.uri)


def test_a_429_waits_for_retry_after(real_repo: Repo, clean: FetchResult) -> None:
    pds = real_repo.mock()
    pds.faults["com.atproto.sync.getLatestCommit"] = [_status(429, **{"retry-after": "7"})]
    waits: list[float] = []
    result = _fetch(real_repo, pds, "tree", sleep=waits.append)
    assert waits == [7.0]
    assert len(result.records) == len(clean.records)


def test_server_errors_beyond_the_retry_budget_fail_clearly(real_repo: Repo) -> None:
    pds = real_repo.mock()
    pds.faults["com.atproto.sync.getRepo"] = [_status(503)] * 10
    with pytest.raises(RetriesExhaustedError) as caught:
        _fetch(real_repo, pds, "car", max_retries=2)
    assert caught.value.actor == real_repo.identity.did
    assert pds.calls.count("com.atproto.sync.getRepo") == 3


def test_rate_limits_beyond_the_wait_budget_fail_clearly(real_repo: Repo) -> None:
    pds = real_repo.mock()
    pds.faults["com.atproto.sync.getRepo"] = [_status(429, **{"retry-after": "100"})] * 5
    with pytest.raises(RateLimitedError) as caught:
        _fetch(real_repo, pds, "car", rate_limit_budget_seconds=150)
    assert caught.value.retry_after == 100.0


def test_auto_falls_back_to_records_without_sync_endpoints(real_repo: Repo, clean: FetchResult) -> None:
    pds = real_repo.mock()
    for nsid in (
        "com.atproto.sync.getRepo",
        "com.atproto.sync.getLatestCommit",
        "com.atproto.sync.getBlocks",
    ):
        pds.faults[nsid] = [_status(501)] * 3
    result = _fetch(real_repo, pds, "auto")
    assert result.mode == "records"
    assert not result.authenticated
    assert sorted((r.uri, r.cid) for r in result.records) == sorted((r.uri, r.cid) for r in clean.records)


def test_other_xrpc_errors_do_not_fall_back(real_repo: Repo) -> None:
    pds = real_repo.mock()
    pds.faults["com.atproto.sync.getRepo"] = [
        lambda request: httpx.Response(400, json={"error": "RepoTakendown", "message": "gone"})
    ]
    with pytest.raises(XrpcError) as caught:
        _fetch(real_repo, pds, "auto")
    assert caught.value.error == "RepoTakendown"
