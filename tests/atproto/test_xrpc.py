"""XrpcClient error paths a real server will not produce on demand (httpx.MockTransport)."""

from __future__ import annotations

import email.utils
import io
import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from lairs_etl.atproto.limits import FetchLimits
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import (
    RateLimitedError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    TransportError,
    UnsafeEndpointError,
    XrpcError,
)

PDS = "https://pds.example.com"
NOW = 1_800_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Counts requests and the sleeps the client asked for (it never really sleeps)."""

    def __init__(self, *responses: Handler | httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        return item(request) if callable(item) else item

    def client(self, **kwargs: object) -> XrpcClient:
        options: dict[str, object] = {
            "transport": httpx.MockTransport(self),
            "sleep": self.sleeps.append,
            "clock": lambda: NOW,
            "uniform": lambda: 1.0,  # the full backoff ceiling: deterministic
            "backoff_base_seconds": 0.5,
        }
        options.update(kwargs)
        return XrpcClient(**options)  # type: ignore[arg-type]


def ok(payload: object) -> httpx.Response:
    return httpx.Response(200, json=payload)


def broken_body(prefix: bytes, exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            yield prefix
            raise exc

        return httpx.Response(200, content=chunks(), headers={"content-type": "application/vnd.ipld.car"})

    return handler


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_query_encodes_repeated_and_boolean_params_and_decodes_json() -> None:
    rec = Recorder(ok({"cid": "bafy", "rev": "3l"}))
    with rec.client() as client:
        got = client.query(
            PDS,
            "com.atproto.sync.getBlocks",
            {"did": "did:plc:x", "cids": ["a", "b"], "active": True, "cursor": None},
        )
    assert got == {"cid": "bafy", "rev": "3l"}
    url = rec.requests[0].url
    assert url.path == "/xrpc/com.atproto.sync.getBlocks"
    assert url.params.get_list("cids") == ["a", "b"]
    assert url.params["active"] == "true"
    assert "cursor" not in url.params
    assert "lairs-etl" in rec.requests[0].headers["user-agent"]


def test_500_then_200_retries_after_backoff() -> None:
    rec = Recorder(httpx.Response(500, json={"error": "InternalServerError"}), ok({"fine": 1}))
    with rec.client() as client:
        assert client.query(PDS, "a.b.c", {}) == {"fine": 1}
    assert len(rec.requests) == 2
    assert rec.sleeps == [0.5]


def test_backoff_grows_exponentially_up_to_the_cap_then_gives_up() -> None:
    rec = Recorder(httpx.Response(503, text="<html>busy</html>"))
    with (
        rec.client(max_retries=5, backoff_max_seconds=3.0) as client,
        pytest.raises(RetriesExhaustedError) as info,
    ):
        client.query(PDS, "a.b.c", {})
    assert len(rec.requests) == 6
    assert rec.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert info.value.status == 503


def test_501_is_not_retried() -> None:
    rec = Recorder(httpx.Response(501, json={"error": "MethodNotImplemented", "message": "no"}))
    with rec.client() as client, pytest.raises(XrpcError) as info:
        client.query(PDS, "com.atproto.sync.listReposByCollection", {})
    assert (info.value.error, info.value.status, len(rec.requests)) == ("MethodNotImplemented", 501, 1)


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": email.utils.formatdate(NOW + 42, usegmt=True)}, 42.0),
        ({"ratelimit-reset": str(int(NOW + 90)), "ratelimit-remaining": "0"}, 90.0),
        ({"ratelimit-reset": "12"}, 12.0),  # delta-seconds form of the IETF draft
    ],
)
def test_429_waits_as_told_then_succeeds(headers: dict[str, str], expected_wait: float) -> None:
    rec = Recorder(httpx.Response(429, headers=headers, json={"error": "RateLimitExceeded"}), ok([]))
    with rec.client() as client:
        assert client.query(PDS, "a.b.c", {}) == []
    assert rec.sleeps == [pytest.approx(expected_wait)]


def test_429_without_headers_still_waits_a_little() -> None:
    rec = Recorder(httpx.Response(429), ok(1))
    with rec.client() as client:
        assert client.query(PDS, "a.b.c") == 1
    assert rec.sleeps == [0.5]


def test_429_beyond_the_budget_raises_rate_limited() -> None:
    rec = Recorder(httpx.Response(429, headers={"retry-after": "40"}))
    with rec.client(rate_limit_budget_seconds=100) as client, pytest.raises(RateLimitedError) as info:
        client.query(PDS, "a.b.c", {})
    assert rec.sleeps == [40.0, 40.0]  # the third wait would pass 100 s
    assert info.value.retry_after == 40.0
    assert (info.value.status, info.value.error) == (429, "RateLimitExceeded")


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof")]
)
def test_transient_network_errors_are_retried(exc: Exception) -> None:
    rec = Recorder(raising(exc), ok({"x": 1}))
    with rec.client() as client:
        assert client.query(PDS, "a.b.c") == {"x": 1}
    assert len(rec.requests) == 2


def test_persistent_timeouts_exhaust_retries_with_typed_error() -> None:
    rec = Recorder(raising(httpx.ConnectTimeout("timed out")))
    with rec.client(max_retries=2) as client, pytest.raises(RetriesExhaustedError) as info:
        client.query(PDS, "a.b.c")
    assert len(rec.requests) == 3
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)


def test_connection_reset_mid_body_retries_the_whole_json_request() -> None:
    rec = Recorder(broken_body(b'{"repos": [', httpx.ReadError("reset")), ok({"repos": []}))
    with rec.client() as client:
        assert client.query(PDS, "com.atproto.sync.listRepos") == {"repos": []}
    assert len(rec.requests) == 2


def test_download_truncates_the_sink_and_retries_after_a_cut_body() -> None:
    body = b"\x3a" + bytes(range(256)) * 40
    rec = Recorder(
        broken_body(body[:1000], httpx.RemoteProtocolError("incomplete")), httpx.Response(200, content=body)
    )
    sink = io.BytesIO(b"HEADER")
    sink.seek(0, io.SEEK_END)
    with rec.client() as client:
        written = client.download(PDS, "com.atproto.sync.getRepo", {"did": "did:plc:x"}, sink)
    assert written == len(body)
    assert sink.getvalue() == b"HEADER" + body


def test_download_failing_for_good_leaves_the_sink_as_it_was() -> None:
    rec = Recorder(broken_body(b"partial CAR bytes", httpx.ReadError("reset")))
    sink = io.BytesIO(b"keep")
    sink.seek(0, io.SEEK_END)
    with rec.client(max_retries=1) as client, pytest.raises(RetriesExhaustedError):
        client.download(PDS, "com.atproto.sync.getRepo", {"did": "did:plc:x"}, sink)
    assert sink.getvalue() == b"keep"


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_response_is_refused_and_not_retried(declared: bool) -> None:
    payload = b"x" * 5000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload if declared else iter([payload[:2500], payload[2500:]]))

    rec = Recorder(handler)
    with (
        rec.client(limits=FetchLimits(json_bytes=4096)) as client,
        pytest.raises(ResponseTooLargeError) as info,
    ):
        client.query(PDS, "a.b.c")
    assert (info.value.limit, info.value.value, len(rec.requests)) == ("json_bytes", 4096, 1)


def test_download_has_its_own_cap() -> None:
    rec = Recorder(httpx.Response(200, content=b"y" * 300))
    sink = io.BytesIO()
    with rec.client() as client, pytest.raises(ResponseTooLargeError):
        client.download(PDS, "com.atproto.sync.getRepo", {}, sink, max_bytes=100)
    assert sink.getvalue() == b""


def test_xrpc_error_body_becomes_typed_error() -> None:
    rec = Recorder(httpx.Response(400, json={"error": "RepoNotFound", "message": "Could not find repo"}))
    with rec.client() as client, pytest.raises(XrpcError) as info:
        client.query(PDS, "com.atproto.sync.getLatestCommit", {"did": "did:plc:nobody"})
    assert (info.value.error, info.value.status) == ("RepoNotFound", 400)
    assert "Could not find repo" in str(info.value)
    assert len(rec.requests) == 1


@pytest.mark.parametrize("body", [b"<html>Not Found</html>", b'["error"]', b'{"error": 5}', b"\xff\xfe"])
def test_error_without_xrpc_body_has_no_error_name(body: bytes) -> None:
    rec = Recorder(httpx.Response(404, content=body))
    with rec.client() as client, pytest.raises(XrpcError) as info:
        client.query(PDS, "a.b.c")
    assert (info.value.error, info.value.status) == (None, 404)


def test_success_body_that_is_not_json_is_a_transport_error() -> None:
    rec = Recorder(httpx.Response(200, text="<html>captive portal</html>"))
    with rec.client() as client, pytest.raises(TransportError) as info:
        client.query(PDS, "a.b.c")
    assert not isinstance(info.value, XrpcError)


def test_procedure_sends_json_and_is_not_retried_after_a_server_error() -> None:
    rec = Recorder(httpx.Response(500, json={"error": "InternalServerError"}))
    with rec.client() as client, pytest.raises(XrpcError) as info:
        client.procedure(PDS, "com.atproto.repo.createRecord", {"repo": "did:plc:x", "record": {"a": 1}})
    assert info.value.status == 500
    assert len(rec.requests) == 1
    assert json.loads(rec.requests[0].content) == {"repo": "did:plc:x", "record": {"a": 1}}


def test_procedure_is_retried_when_nothing_was_sent() -> None:
    rec = Recorder(raising(httpx.ConnectError("refused")), ok({"uri": "at://x"}))
    with rec.client() as client:
        assert client.procedure(PDS, "com.atproto.repo.applyWrites", {"writes": []}) == {"uri": "at://x"}
    assert len(rec.requests) == 2


def test_procedure_is_not_retried_when_the_request_may_have_landed() -> None:
    rec = Recorder(raising(httpx.ReadTimeout("slow")), ok({}))
    with rec.client() as client, pytest.raises(TransportError):
        client.procedure(PDS, "com.atproto.repo.applyWrites", {"writes": []})
    assert len(rec.requests) == 1


def test_idempotent_procedure_is_retried_like_a_query() -> None:
    rec = Recorder(httpx.Response(502), ok({}))
    with rec.client() as client:
        assert client.procedure(PDS, "com.atproto.repo.applyWrites", {}, idempotent=True) == {}
    assert len(rec.requests) == 2


def test_authorization_never_reaches_logs_or_error_text(caplog: pytest.LogCaptureFixture) -> None:
    token = "eyJhbGciOiJFUzI1NksifQ.SECRET-TOKEN-VALUE.sig"
    rec = Recorder(httpx.Response(200, json={}), httpx.Response(401, json={"error": "ExpiredToken"}))
    caplog.set_level(logging.DEBUG)
    with rec.client() as client:
        client.procedure(PDS, "com.atproto.repo.applyWrites", {}, {"Authorization": f"Bearer {token}"})
        with pytest.raises(XrpcError) as info:
            client.procedure(PDS, "com.atproto.repo.applyWrites", {}, {"Authorization": f"Bearer {token}"})
    assert rec.requests[0].headers["authorization"] == f"Bearer {token}"
    assert info.value.error == "ExpiredToken"
    assert "SECRET-TOKEN-VALUE" not in caplog.text
    assert "<redacted>" in caplog.text
    assert "SECRET-TOKEN-VALUE" not in str(info.value) + repr(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:2583",
        "http://localhost:2583",
        "https://169.254.169.254",
        "http://[::1]:80",
        "http://10.0.0.7",
        "file:///etc/passwd",
        "https://user:pw@pds.example.com",
    ],
)
def test_unsafe_service_urls_are_refused_before_any_request(url: str) -> None:
    rec = Recorder(ok({}))
    with rec.client() as client, pytest.raises(UnsafeEndpointError):
        client.query(url, "a.b.c")
    assert rec.requests == []


def test_allow_private_hosts_lets_loopback_through() -> None:
    rec = Recorder(ok({"ok": True}))
    with rec.client(allow_private_hosts=True) as client:
        assert client.query("http://localhost:2583", "a.b.c") == {"ok": True}


def test_get_bytes_follows_redirects_but_checks_each_target() -> None:
    rec = Recorder(
        httpx.Response(302, headers={"location": "https://other.example.org/did.json"}),
        httpx.Response(301, headers={"location": "http://169.254.169.254/latest/meta-data"}),
    )
    with rec.client() as client, pytest.raises(UnsafeEndpointError):
        client.get_bytes("https://alice.example.com/.well-known/did.json")
    assert [str(r.url) for r in rec.requests] == [
        "https://alice.example.com/.well-known/did.json",
        "https://other.example.org/did.json",
    ]


def test_get_bytes_reports_http_status_without_xrpc_error() -> None:
    rec = Recorder(httpx.Response(410, text="gone"))
    with rec.client() as client, pytest.raises(TransportError) as info:
        client.get_bytes("https://plc.example.com/did:plc:abc")
    assert info.value.status == 410
    assert not isinstance(info.value, XrpcError)
