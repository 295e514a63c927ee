"""The subscription: hosts refused before connecting, resume from the cursor, error frames."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.sync.server import ServerConnection, serve

from lairs_etl.atproto import cbor
from lairs_etl.atproto.firehose import IdentityEvent
from lairs_etl.atproto.firehose.client import Subscription, subscription_url
from lairs_etl.atproto.netsafety import HostPolicy
from lairs_etl.errors import FrameError, FutureCursorError, StreamError, UnsafeEndpointError
from tests.atproto.firehose._producer import frame


def _identity(seq: int) -> bytes:
    return frame(
        "#identity", {"seq": seq, "did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "time": "2026-12-07T00:00:00Z"}
    )


def _error(name: str) -> bytes:
    return cbor.encode({"op": -1}) + cbor.encode({"error": name, "message": "test"})


@contextmanager
def scripted(
    script: Callable[[int | None, ServerConnection], None],
) -> Iterator[tuple[str, list[int | None]]]:
    """A loopback producer running ``script(cursor, connection)`` per connection."""
    cursors: list[int | None] = []

    def handle(conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path if conn.request else "").query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        cursors.append(cursor)
        script(cursor, conn)

    with serve(handle, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.socket.getsockname()[1]}", cursors
        finally:
            server.shutdown()
            thread.join(timeout=5)


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.0.0.8",
        "wss://169.254.169.254",
        "http://[::1]:2470",
        "ws://metadata.google.internal",
        "ftp://x.y",
    ],
)
def test_private_and_metadata_hosts_are_refused_before_any_connection(url: str) -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError(f"resolved {host}")

    with pytest.raises(UnsafeEndpointError):
        Subscription(url, resolve=no_dns)


def test_a_public_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(UnsafeEndpointError):
        subscription_url("wss://relay.example.com", 5, HostPolicy(), lambda host: ["192.168.1.4"])
    assert (
        subscription_url("wss://relay.example.com", 5, HostPolicy(), lambda host: ["93.184.216.34"])
        == "wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos?cursor=5"
    )


def test_a_dropped_connection_resumes_after_the_last_seq_seen() -> None:
    def script(cursor: int | None, conn: ServerConnection) -> None:
        start = (cursor or 0) + 1
        for seq in range(start, min(start + 3, 8)):
            conn.send(_identity(seq))
        if start + 3 > 7:
            conn.recv()  # all sent: stay open until the client leaves
        # else end the connection: the client reconnects after the last seq it saw

    sleeps: list[float] = []
    with scripted(script) as (url, cursors):
        subscription = Subscription(url, cursor=0, allow_private_hosts=True, sleep=sleeps.append)
        seen = []
        for received in subscription.frames(tick=0.3):
            if received is None:
                break
            assert isinstance(received.event, IdentityEvent)
            seen.append(received.seq)
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert cursors == [0, 3, 6]
    assert sleeps == []  # each connection delivered: no backoff
    assert subscription.cursor == 7


def test_error_frames_end_or_restart_the_stream() -> None:
    def too_slow(cursor: int | None, conn: ServerConnection) -> None:
        if cursor == 0:
            conn.send(_identity(1))
            conn.send(_error("ConsumerTooSlow"))
        else:
            conn.send(_identity((cursor or 0) + 1))
            conn.recv()

    with scripted(too_slow) as (url, cursors):
        subscription = Subscription(url, cursor=0, allow_private_hosts=True)
        seqs = []
        for received in subscription.frames(tick=0.3):
            if received is None:
                break
            seqs.append(received.seq)
    assert seqs == [1, 2]
    assert cursors[:2] == [0, 1]

    with (
        scripted(lambda cursor, conn: conn.send(_error("FutureCursor"))) as (url, _),
        pytest.raises(FutureCursorError),
    ):
        list(Subscription(url, cursor=10**9, allow_private_hosts=True).frames(tick=0.3))


def test_a_garbled_frame_is_handed_over_as_an_error_and_the_stream_goes_on() -> None:
    def script(cursor: int | None, conn: ServerConnection) -> None:
        conn.send(b"\xff\x00 not cbor")
        conn.send(_identity(1))
        conn.recv()  # keep the connection open until the client leaves

    with scripted(script) as (url, _):
        received = []
        for item in Subscription(url, cursor=0, allow_private_hosts=True).frames(tick=0.3):
            if item is None:
                break
            received.append(item)
    assert isinstance(received[0].event, FrameError)
    assert received[1].seq == 1


def test_a_producer_that_keeps_failing_ends_in_a_stream_error() -> None:
    sleeps: list[float] = []
    with scripted(lambda cursor, conn: conn.close()) as (url, _):
        subscription = Subscription(
            url, cursor=0, allow_private_hosts=True, max_reconnects=3, sleep=sleeps.append
        )
        with pytest.raises(StreamError):
            list(subscription.frames(tick=0.3))
    assert len(sleeps) == 3
    assert all(sleeps[i] < sleeps[i + 1] * 2 for i in range(2))
    assert sleeps[2] >= subscription.backoff_base * 2  # doubling (jitter takes at most half)


def test_a_host_name_is_connected_at_the_address_vetted_for_it() -> None:
    def script(cursor: int | None, conn: ServerConnection) -> None:
        conn.send(_identity(1))
        conn.recv()

    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]  # what the check saw is where the connection goes, never a second lookup

    with scripted(script) as (url, _):
        port = url.rsplit(":", 1)[1]
        subscription = Subscription(
            f"ws://relay.example.com:{port}", allow_private_hosts=True, resolve=resolve
        )
        first = next(r for r in subscription.frames(tick=0.3) if r is not None)
    assert first.seq == 1
    assert set(asked) == {"relay.example.com"}
