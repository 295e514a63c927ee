"""Record ``com.atproto.sync.subscribeRepos`` frames from a PDS, and take frames apart.

A frame is one binary websocket message: a DAG-CBOR header (``{"op": 1, "t": "#commit"}``,
or ``{"op": -1}`` for an error) immediately followed by a DAG-CBOR body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cbrrr import _cbrrr
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid

__all__ = [
    "IDLE_SECONDS",
    "SUBSCRIBE_REPOS",
    "frame_did",
    "frame_seq",
    "frames_of",
    "join_frame",
    "record_frames",
    "split_frame",
    "subscribe_url",
]

SUBSCRIBE_REPOS = "/xrpc/com.atproto.sync.subscribeRepos"
IDLE_SECONDS = 1.0
"""Without ``until``, recording stops once no frame arrived for this long."""
_MAX_FRAME = 16 * 1024 * 1024


def subscribe_url(service_url: str, cursor: int | None = None) -> str:
    """``ws://host/xrpc/com.atproto.sync.subscribeRepos?cursor=N`` for an http(s) or ws(s) URL."""
    parts = urlsplit(service_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = "" if cursor is None else f"cursor={cursor}"
    return urlunsplit((scheme, parts.netloc, SUBSCRIBE_REPOS, query, ""))


def record_frames(
    pds_url: str,
    *,
    cursor: int = 0,
    timeout: float = 5.0,
    until: Callable[[list[bytes]], bool] | None = None,
    idle: float = IDLE_SECONDS,
) -> list[bytes]:
    """The raw binary frames of ``subscribeRepos`` from ``cursor``, in arrival order.

    Without ``until``: stops when no frame arrived for ``idle`` seconds, the server
    closed the stream, or ``timeout`` seconds passed (what arrived is returned).
    With ``until``: stops as soon as ``until(frames)`` is true (checked after every
    frame and once before the first); if the stream closes or ``timeout`` passes
    first, raises :class:`TimeoutError` (the frames so far are in its message count).

    Raises:
        TimeoutError: ``until`` was given and never became true.
        TypeError: the server sent a text message.
    """
    deadline = time.monotonic() + timeout
    frames: list[bytes] = []
    # proxy=None: the frames come straight from the (loopback) server, never via $*_PROXY
    with connect(subscribe_url(pds_url, cursor), proxy=None, max_size=_MAX_FRAME, open_timeout=timeout) as ws:
        while until is None or not until(frames):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                message = ws.recv(timeout=left if until is not None else min(left, idle))
            except TimeoutError:
                if until is None:
                    break
                continue
            except ConnectionClosed:
                break
            if isinstance(message, str):
                raise TypeError(f"subscribeRepos sent a text message: {message[:200]!r}")
            frames.append(message)
    if until is not None and not until(frames):
        raise TimeoutError(f"subscribeRepos: condition not met after {len(frames)} frames in {timeout} s")
    return frames


def split_frame(frame: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The frame's header and body (IPLD form: links are :class:`Cid`, bytes are ``bytes``).

    Raises:
        ValueError: not exactly two DAG-CBOR maps back to back (``CodecError``, a
            ``ValueError``, when the body is not canonical DAG-CBOR).
    """
    header, length = _cbrrr.decode_dag_cbor(frame, Cid, False)  # one item, and its length
    body = cbor.decode(frame[length:], max_size=len(frame))
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise ValueError("frame header and body must both be maps")
    return header, body


def join_frame(header: dict[str, Any], body: dict[str, Any]) -> bytes:
    """The frame bytes for ``header`` and ``body``: the inverse of :func:`split_frame`."""
    return cbor.encode(header) + cbor.encode(body)


def frame_seq(frame: bytes) -> int | None:
    """The body's ``seq``, or ``None`` (``#info``, error frames, undecodable frames)."""
    try:
        _, body = split_frame(frame)
    except ValueError:  # CodecError and cbrrr's decode error are ValueErrors
        return None
    seq = body.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def frame_did(frame: bytes) -> str | None:
    """The account a frame is about: ``repo`` of ``#commit``, ``did`` of the others."""
    header, body = split_frame(frame)
    did = body.get("repo") if header.get("t") == "#commit" else body.get("did")
    return did if isinstance(did, str) else None


def frames_of(frames: Iterable[bytes], did: str) -> list[bytes]:
    """The frames about ``did``, in order."""
    return [frame for frame in frames if frame_did(frame) == did]
