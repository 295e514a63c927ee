"""A ``subscribeRepos`` subscription over a websocket: cursor, reconnects, bounded buffer.

:class:`Subscription` yields each frame decoded (:class:`Received`) and keeps the ``seq``
of the last one it handed out, which is where a reconnect resumes (``?cursor=`` means
"after this seq"). The caller decides when a seq is *done* (committed) and persists
that, not this object: a crash replays what was received but not committed.

Backpressure: frames are read only when the caller asks for the next one. The
websocket library buffers at most ``max_queue`` frames and then stops reading from the
socket, so a slow consumer pauses the producer through TCP flow control instead of
growing memory. A producer that gives up on us (``ConsumerTooSlow``) ends the stream
with an error frame and we reconnect from the cursor.

The host is checked before any connection, as the XRPC client checks its hosts:
private, loopback and metadata addresses are refused unless allowed, also when a host
name resolves to one.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from lairs_etl.atproto.firehose.frames import MAX_FRAME_BYTES, ErrorFrame, Event, decode_frame
from lairs_etl.atproto.netsafety import HostPolicy, address_class, check_url
from lairs_etl.errors import FrameError, FutureCursorError, StreamError, TransportError, UnsafeEndpointError

__all__ = ["ENDPOINT", "Endpoint", "Received", "Subscription", "endpoint", "subscription_url"]

ENDPOINT = "/xrpc/com.atproto.sync.subscribeRepos"

_log = logging.getLogger(__name__)

Resolve = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class Received:
    """One frame: its bytes and the event, or why it could not be decoded."""

    raw: bytes
    event: Event | FrameError

    @property
    def seq(self) -> int | None:
        """The event's sequence number, when it has one."""
        seq = getattr(self.event, "seq", None)
        return seq if isinstance(seq, int) else None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect: the websocket URL, and for a host name the address vetted for it.

    Connecting to ``address`` (not to the name again) is what stops a DNS answer that
    changes between the check and the connection (rebinding).
    """

    url: str
    host: str
    port: int
    tls: bool
    address: str | None


def endpoint(
    service: str, cursor: int | None, policy: HostPolicy, resolve: Resolve | None = None
) -> Endpoint:
    """``service``'s ``subscribeRepos`` endpoint, once its host is allowed.

    ``service`` may be given as ``ws(s)://`` or ``http(s)://``; a path, if any, is
    replaced by the endpoint's.

    Raises:
        UnsafeEndpointError: a scheme, credentials or address ``policy`` refuses (checked
            without connecting; a host name is resolved with ``resolve``, and every
            address it resolves to must be allowed).
        TransportError: the name does not resolve.
    """
    parts = urlsplit(service)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    http = urlunsplit((scheme, parts.netloc, "", "", ""))
    parsed = check_url(http, policy=policy)
    host = parsed.host
    tls = scheme == "https"
    address: str | None = None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        addresses = (resolve or _resolve)(host)
        for candidate in addresses:
            kind = address_class(ipaddress.ip_address(candidate))
            if not policy.allows(kind):
                raise UnsafeEndpointError(
                    f"{host} resolves to a {kind} address {candidate}", url=service
                ) from None
        if not addresses:
            raise TransportError(f"{host} resolves to no address") from None
        address = addresses[0]
    query = urlencode({"cursor": cursor}) if cursor is not None else ""
    url = urlunsplit(("wss" if tls else "ws", parts.netloc, ENDPOINT, query, ""))
    return Endpoint(url, host, parsed.port or (443 if tls else 80), tls, address)


def subscription_url(
    service: str, cursor: int | None, policy: HostPolicy, resolve: Resolve | None = None
) -> str:
    """The websocket URL of ``service``'s ``subscribeRepos`` (see :func:`endpoint`)."""
    return endpoint(service, cursor, policy, resolve).url


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


class Subscription:
    """Frames from one producer (a relay or a PDS), reconnecting from the last seq.

    Args:
        service: the producer's base URL (``wss://relay.example``, ``http://127.0.0.1:2583``).
        cursor: resume after this seq (None: from now; 0: everything the producer holds).
        allow_private_hosts: allow loopback and private addresses (tests, a local PDS).
        max_frame_bytes: larger frames end the connection (and are refused on retry).
        max_queue: frames the library may buffer before it stops reading the socket.
        backoff_base / backoff_max: seconds between reconnects, doubling, with jitter.
        max_reconnects: consecutive failed connections before giving up.
        clock / sleep: injectable for tests.
    """

    def __init__(
        self,
        service: str,
        *,
        cursor: int | None = None,
        allow_private_hosts: bool = False,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_queue: int = 16,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_reconnects: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        resolve: Resolve | None = None,
    ) -> None:
        self.service = service
        self.cursor = cursor
        self.policy = HostPolicy(allow_private_hosts=allow_private_hosts)
        subscription_url(service, cursor, self.policy, resolve)  # refuse a bad host now
        self._resolve = resolve
        self.max_frame_bytes = max_frame_bytes
        self.max_queue = max_queue
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_reconnects = max_reconnects
        self._clock = clock
        self._sleep = sleep
        self.reconnects = 0
        """Connections opened after the first one (a measure of how flaky the producer is)."""

    def frames(self, *, until: float | None = None, tick: float | None = None) -> Iterator[Received | None]:
        """Frames until ``until`` (a ``clock`` time; None: until the caller stops).

        ``None`` is yielded after ``tick`` seconds without a frame, so a caller batching
        frames can flush on time while the stream is quiet.

        Raises:
            StreamError: the producer refused the cursor (``FutureCursor``) or kept failing.
            UnsafeEndpointError: the host is not allowed.
        """
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        failures = 0
        opened = 0
        while not self._past(until):
            target = endpoint(self.service, self.cursor, self.policy, self._resolve)
            url = target.url
            start = self.cursor
            why: object = "the producer ended the stream"
            try:
                sock = None
                if target.address is not None:  # connect to the address vetted, not the name again
                    sock = socket.create_connection((target.address, target.port), timeout=10)
                with connect(
                    url,
                    sock=sock,
                    server_hostname=target.host if target.tls and sock is not None else None,
                    max_size=self.max_frame_bytes,
                    max_queue=self.max_queue,
                    open_timeout=10,
                    compression=None,
                ) as ws:
                    opened += 1
                    if opened > 1:
                        self.reconnects += 1
                    if (yield from self._read(ws, until, tick)):
                        return
            except InvalidURI as exc:
                raise UnsafeEndpointError(f"not a websocket URL: {url}", url=url) from exc
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                why = exc
            # A connection that delivered events resets the count: only a producer that
            # keeps failing before its first event ends the stream.
            failures = 0 if self.cursor != start else failures + 1
            if failures > self.max_reconnects:
                raise StreamError(f"{self.service}: {failures} connections in a row gave nothing: {why}")
            if failures:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
                delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
                _log.warning("firehose %s: %s; reconnecting in %.1f s", self.service, why, delay)
                self._sleep(delay)

    def _read(
        self, ws: Any, until: float | None, tick: float | None
    ) -> Generator[Received | None, None, bool]:
        """Yield frames (None on a quiet ``tick``); returns True when time is up (False: reconnect)."""
        while True:
            timeout = tick
            if until is not None:
                left = until - self._clock()
                if left <= 0:
                    return True
                timeout = left if timeout is None else min(timeout, left)
            try:
                data = ws.recv(timeout=timeout)
            except TimeoutError:
                yield None
                continue
            if isinstance(data, str):
                yield Received(data.encode(), FrameError("text frame on a binary event stream"))
                continue
            try:
                event = decode_frame(data, max_bytes=self.max_frame_bytes)
            except FrameError as exc:
                yield Received(data, exc)
                continue
            if isinstance(event, ErrorFrame):
                if event.error == "FutureCursor":
                    raise FutureCursorError(
                        f"{self.service} refuses cursor {self.cursor}: {event.message or event.error}"
                    )
                _log.warning(
                    "firehose %s ended the stream: %s %s", self.service, event.error, event.message or ""
                )
                return False
            received = Received(data, event)
            seq = received.seq
            if seq is not None:
                self.cursor = seq
            yield received

    def _past(self, until: float | None) -> bool:
        return until is not None and self._clock() >= until
