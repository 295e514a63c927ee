"""A tampering relay on loopback: re-frames a PDS's ``subscribeRepos`` through a function.

``TamperingRelay(upstream, reframe)`` serves ``/xrpc/com.atproto.sync.subscribeRepos``;
each client connection opens the upstream stream at the client's cursor and sends, for
each upstream frame, whatever ``reframe(frame)`` returns (the frame, a changed frame,
several, or none). ``sent`` keeps every frame sent, in order: the recorded stream the
differential test replays through the reference implementation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

Reframe = Callable[[bytes], list[bytes]]


class TamperingRelay:
    """See the module docstring; ``url`` is set once started (``with relay.running():``)."""

    def __init__(self, upstream: str, reframe: Reframe) -> None:
        self.upstream = upstream.replace("http://", "ws://").rstrip("/")
        self.reframe = reframe
        self.sent: list[bytes] = []
        self.url = ""
        self._stop = threading.Event()

    def _handle(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path if conn.request else "").query)
        cursor = query.get("cursor", [None])[0]
        url = f"{self.upstream}/xrpc/com.atproto.sync.subscribeRepos" + (
            f"?cursor={cursor}" if cursor else ""
        )
        with connect(url, max_size=8 * 1024 * 1024) as up:
            while not self._stop.is_set():
                try:
                    frame = up.recv(timeout=0.2)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                assert isinstance(frame, bytes)
                try:
                    for out in self.reframe(frame):
                        conn.send(out)
                        self.sent.append(out)
                except ConnectionClosed:
                    return

    @contextmanager
    def running(self) -> Iterator[TamperingRelay]:
        with serve(self._handle, "127.0.0.1", 0, max_size=8 * 1024 * 1024) as server:
            port = server.socket.getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                server.shutdown()
                thread.join(timeout=5)
