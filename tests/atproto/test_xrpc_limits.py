"""The XRPC client's budgets: deadlines, decompressed bytes, compression, hostile JSON, 429 headers.

Faults here are ones a real server will not produce on demand, served through
``httpx.MockTransport``; time is an injected clock that the response bodies advance, so
nothing waits. The hostile-peer suite (``tests/hostile``) repeats the important ones
against a real server on loopback.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.limits import Budget, FetchLimits
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import (
    DeadlineExceededError,
    LimitExceededError,
    MalformedResponseError,
    RateLimitedError,
    ResponseTooLargeError,
)

PDS = "https://pds.example.com"


class Clock:
    """Monotonic seconds that only move when a test (or a body) says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_for(handler: object, clock: Clock, **limits: float) -> XrpcClient:
    return XrpcClient(
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        limits=FetchLimits(**limits),  # type: ignore[arg-type]
        sleep=clock.sleep,
        monotonic=clock,
        clock=lambda: 1_800_000_000.0,
        uniform=lambda: 1.0,
    )


def trickle(clock: Clock, payload: bytes, seconds_per_byte: float) -> Iterator[bytes]:
    """A body arriving one byte at a time, each byte costing ``seconds_per_byte``."""
    for byte in payload:
        clock.now += seconds_per_byte
        yield bytes([byte])


def test_a_body_trickling_in_ends_at_the_request_deadline() -> None:
    clock = Clock()
    served: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(1)
        return httpx.Response(200, content=trickle(clock, b'{"a": "' + b"x" * 10_000 + b'"}', 1.0))

    started = clock.now
    with (
        client_for(handler, clock, request_seconds=30) as client,
        pytest.raises(DeadlineExceededError) as info,
    ):
        client.query(PDS, "a.b.c")
    assert (info.value.limit, info.value.value) == ("request_seconds", 30)
    assert clock.now - started <= 31  # one byte past the deadline, not the 10,000 s the body would take
    assert served == [1]  # a deadline is not retried


def test_a_download_trickling_in_ends_at_the_actors_deadline() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle(clock, b"\x00" * 1000, 1.0))

    budget = Budget(FetchLimits(actor_seconds=20), actor="did:plc:slow", clock=clock)
    sink = io.BytesIO()
    with client_for(handler, clock) as client, pytest.raises(DeadlineExceededError) as info:
        client.download(PDS, "com.atproto.sync.getRepo", {}, sink, budget=budget)
    assert info.value.limit == "actor_seconds"
    assert sink.getvalue() == b""


def test_retries_stop_at_the_deadline_rather_than_after_every_attempt() -> None:
    clock = Clock()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        clock.now += 8  # each attempt times out after 8 s
        raise httpx.ReadTimeout("slow", request=request)

    with client_for(handler, clock, request_seconds=20) as client, pytest.raises(DeadlineExceededError):
        client.query(PDS, "a.b.c")
    assert len(calls) < 5  # the client's 4 retries would otherwise run to the end


def test_a_slow_body_of_a_budgeted_actor_counts_once_against_its_bytes() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"\x00" * 5000)

    budget = Budget(FetchLimits(actor_bytes=8000), clock=clock)
    with client_for(handler, clock) as client:
        client.download(PDS, "x.y.z", {}, io.BytesIO(), budget=budget)
        with pytest.raises(ResponseTooLargeError) as info:
            client.download(PDS, "x.y.z", {}, io.BytesIO(), budget=budget)
    assert info.value.limit == "actor_bytes"


def bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = b"\x00" * (1 << 20)
    parts = [compressor.compress(zeros) for _ in range(size >> 20)]
    return b"".join([*parts, compressor.flush()])


def test_a_gzip_bomb_in_a_json_answer_stops_at_the_decompression_ratio() -> None:
    clock = Clock()
    body = bomb(64 << 20)  # 64 MiB of zeros in about 64 KiB
    received: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 1024):
                received.append(start)
                yield body[start : start + 1024]

        return httpx.Response(200, content=chunks(), headers={"content-encoding": "gzip"})

    with client_for(handler, clock) as client, pytest.raises(ResponseTooLargeError) as info:
        client.query(PDS, "a.b.c")
    assert info.value.limit == "decompression_ratio"
    assert len(received) < 16  # stopped within the first few KiB received


def test_compressed_json_within_the_ratio_is_read() -> None:
    clock = Clock()
    payload = b'{"records": [' + b",".join(b'{"n": %d}' % i for i in range(5000)) + b"]}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=gzip.compress(payload), headers={"content-encoding": "gzip"})

    with client_for(handler, clock) as client:
        answer = client.query(PDS, "a.b.c")
    assert isinstance(answer, dict)
    assert len(answer["records"]) == 5000  # type: ignore[arg-type]


def test_a_download_asks_for_identity_and_refuses_a_compressed_body() -> None:
    clock = Clock()
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding"))
        return httpx.Response(
            200, content=gzip.compress(b"\x00" * 1000), headers={"content-encoding": "gzip"}
        )

    sink = io.BytesIO()
    with client_for(handler, clock) as client, pytest.raises(MalformedResponseError):
        client.download(PDS, "com.atproto.sync.getRepo", {}, sink)
    assert seen == ["identity"]
    assert sink.getvalue() == b""


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 200 + b"1" + b"}" * 200,
        b'{"n": ' + b"9" * 5000 + b"}",
        b'{"n": NaN}',
        b'{"s": "\\ud800"}',
        b"\xff\xfe{}",
        b"",
    ],
    ids=["deep-array", "deep-object", "huge-integer", "nan", "lone-surrogate", "not-utf8", "empty"],
)
def test_hostile_json_is_a_malformed_response(body: bytes) -> None:
    clock = Clock()
    requests: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(1)
        return httpx.Response(200, content=body)

    with client_for(handler, clock) as client, pytest.raises(MalformedResponseError):
        client.query(PDS, "com.atproto.repo.describeRepo", {"repo": "did:plc:x"})
    assert requests == [1]


def test_json_depth_is_a_limit() -> None:
    clock = Clock()
    body = b'{"a":' * 20 + b"1" + b"}" * 20

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with client_for(handler, clock, json_depth=25) as client:
        assert client.query(PDS, "a.b.c")
    with client_for(handler, clock, json_depth=10) as client, pytest.raises(MalformedResponseError):
        client.query(PDS, "a.b.c")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "Infinity"])
def test_a_non_finite_retry_after_waits_the_backoff_not_forever(value: str) -> None:
    clock = Clock()
    answers = iter([httpx.Response(429, headers={"retry-after": value}), httpx.Response(200, json={"ok": 1})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    with client_for(handler, clock) as client:
        assert client.query(PDS, "a.b.c") == {"ok": 1}
    assert clock.slept == [0.5]  # the base backoff: the header was not usable


def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "120"})

    with client_for(handler, clock, request_seconds=60) as client, pytest.raises(RateLimitedError):
        client.query(PDS, "a.b.c")
    assert clock.slept == []


def test_limit_errors_name_the_limit() -> None:
    assert issubclass(ResponseTooLargeError, LimitExceededError)
    assert issubclass(DeadlineExceededError, LimitExceededError)


def _streamed(body: bytes, cuts: list[int], encoding: str) -> httpx.MockTransport:
    """Serve ``body`` streamed in pieces cut at ``cuts`` (so httpx cannot read it whole first)."""

    def handler(request: httpx.Request) -> httpx.Response:
        edges = [0, *sorted(c for c in set(cuts) if 0 < c < len(body)), len(body)]

        def pieces() -> Iterator[bytes]:
            for start, end in itertools.pairwise(edges):
                yield body[start:end]

        return httpx.Response(200, content=pieces(), headers={"content-encoding": encoding})

    return httpx.MockTransport(handler)


def _query(transport: httpx.MockTransport) -> object:
    with XrpcClient(transport=transport) as client:
        return client.query(PDS, "a.b.c")


@settings(max_examples=150, deadline=None)
@given(
    members=st.lists(
        st.dictionaries(st.text(max_size=8), st.integers(), max_size=30), min_size=1, max_size=3
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    padding=st.sampled_from([b"", b"\x00" * 8]),
)
def test_gzip_bodies_decode_however_they_are_cut(
    members: list[dict[str, int]], cuts: list[int], padding: bytes
) -> None:
    # Several members make one JSON text only when joined: split the text across them.
    text = json.dumps({"members": members}).encode()
    size = -(-len(text) // len(members))
    body = b"".join(gzip.compress(text[i : i + size]) for i in range(0, len(text), size)) + padding
    assert _query(_streamed(body, cuts, "gzip")) == {"members": members}


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_with_or_without_its_header(wbits: int) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(b'{"ok": [1, 2, 3]}') + compressor.flush()
    assert _query(_streamed(body, [3, 7], "deflate")) == {"ok": [1, 2, 3]}


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(b'{"ok": 1}')[:-12], "gzip"),  # cut short
        (b"\x1f\x8b not gzip at all", "gzip"),
        (b'{"ok": 1}', "br"),  # an encoding never asked for
    ],
    ids=["truncated", "corrupt", "unasked"],
)
def test_bad_compressed_bodies_are_malformed(body: bytes, encoding: str) -> None:
    with pytest.raises(MalformedResponseError):
        _query(_streamed(body, [5], encoding))


def test_the_client_asks_only_for_what_it_can_inflate_step_by_step() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding"))
        return httpx.Response(200, json={})

    _query(httpx.MockTransport(handler))
    assert seen == ["gzip, deflate"]
