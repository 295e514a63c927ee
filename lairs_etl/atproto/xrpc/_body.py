"""Reading response bodies within their budgets, and turning error bodies into typed errors."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from lairs_etl.atproto import jsoncodec
from lairs_etl.atproto.jsoncodec import JsonValue
from lairs_etl.atproto.limits import Budget
from lairs_etl.errors import (
    CodecError,
    DeadlineExceededError,
    MalformedResponseError,
    ResponseTooLargeError,
    TransportError,
    XrpcError,
)

__all__ = [
    "ACCEPT_ENCODING",
    "ERROR_BODY_LIMIT",
    "BodyBudget",
    "JsonValue",
    "deadline_exceeded",
    "decode_json",
    "error_from_response",
    "read_capped",
    "read_prefix",
    "redact_headers",
    "stream_capped",
]

ERROR_BODY_LIMIT = 64 * 1024
_RATIO_GRACE = 1024 * 1024
"""Decompressed bytes allowed before the compression ratio is judged (small bodies
of repetitive JSON legitimately compress far better than large ones)."""
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "dpop"})
_IDENTITY = frozenset({"", "identity"})
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_GZIP_MAGIC = b"\x1f\x8b"
ACCEPT_ENCODING = "gzip, deflate"
"""The encodings JSON answers may use: the ones :func:`_decoded` inflates step by step."""
_STEP = 256 * 1024
"""Decoded bytes produced per inflation step, however well the body compresses: a
64 KiB read of a compression bomb is not allowed to become 64 MiB at once."""


@dataclass(frozen=True, slots=True)
class BodyBudget:
    """What one body may cost: bytes after decompression, time, and an actor's share.

    ``byte_limit`` names the limit of ``max_bytes`` in errors (``json_bytes``,
    ``download_bytes`` …); ``deadline`` is in ``clock``'s (monotonic) seconds, and
    ``deadline_limit`` the limit it comes from with its setting; ``ratio`` caps
    decompressed per received bytes (None: a compressed body is refused).
    """

    max_bytes: int
    byte_limit: str
    deadline: float | None = None
    deadline_limit: tuple[str, float] = ("request_seconds", 0.0)
    budget: Budget | None = None
    ratio: float | None = None
    clock: Callable[[], float] = time.monotonic


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: credential-bearing header values replaced by ``<redacted>``."""
    return {k: "<redacted>" if k.lower() in _SECRET_HEADERS else v for k, v in headers.items()}


def _too_large(response: httpx.Response, budget: BodyBudget, what: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"response body exceeds {budget.byte_limit}={budget.max_bytes} bytes{what}",
        limit=budget.byte_limit,
        value=budget.max_bytes,
        url=str(response.request.url),
    )


def deadline_exceeded(url: str, limit: tuple[str, float]) -> DeadlineExceededError:
    """The error for a request that ran past the deadline ``limit`` (name, seconds) set."""
    name, seconds = limit
    return DeadlineExceededError(f"request ran past {name}={seconds:g}s", limit=name, value=seconds, url=url)


def _decoded(response: httpx.Response, encoding: str) -> Iterator[bytes]:
    """The body with its ``content-encoding`` undone, in pieces of at most :data:`_STEP` bytes.

    As lenient as httpx on what servers really send (several gzip members; bytes after
    the last member, which are ignored; ``deflate`` with or without its zlib header),
    and stricter on a body cut short (refused, where httpx would return what it had).

    Raises:
        MalformedResponseError: an encoding that was not asked for, or a corrupt or
            truncated stream.
    """
    if response.is_stream_consumed:  # read whole already (an in-memory transport): httpx decoded it
        yield response.content
        return
    if encoding in _IDENTITY:
        yield from response.iter_raw()
        return
    url = str(response.request.url)
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise MalformedResponseError(f"a body in the {encoding!r} encoding, which was not asked for", url=url)
    inflater = _Inflater(wbits)
    try:
        for raw in response.iter_raw():
            yield from inflater.feed(raw)
        yield from inflater.finish()
    except zlib.error as exc:
        raise MalformedResponseError(f"a corrupt {encoding} body: {exc}", url=url) from exc
    except _Truncated as exc:
        raise MalformedResponseError(f"a {encoding} body cut short", url=url) from exc


class _Truncated(Exception):
    """The compressed stream ended before its end marker."""


class _Inflater:
    """Undo gzip or deflate a step at a time (:data:`_STEP` bytes out at most per step)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._started = False
        self._done = False
        self._held = b""  # the start of what follows a gzip member, too short to judge yet

    def feed(self, data: bytes) -> Iterator[bytes]:
        data, self._held = self._held + data, b""
        while data and not self._done:
            if self._inflater.eof:  # between gzip members, or after the last one
                if len(data) < len(_GZIP_MAGIC) and _GZIP_MAGIC.startswith(data):
                    self._held = data  # the next chunk says whether a member follows
                    return
                if self._wbits != _WBITS["gzip"] or not data.startswith(_GZIP_MAGIC):
                    self._done = True  # anything after the last member is ignored, as httpx does
                    return
                self._inflater = zlib.decompressobj(self._wbits)
            try:
                piece = self._inflater.decompress(data, _STEP)
            except zlib.error:
                if self._started or self._wbits != _WBITS["deflate"]:
                    raise
                # "deflate" without the zlib header it should have: raw deflate, as httpx allows
                self._wbits = -zlib.MAX_WBITS
                self._inflater = zlib.decompressobj(self._wbits)
                continue
            self._started = True
            if piece:
                yield piece
            data = self._inflater.unconsumed_tail
            if self._inflater.eof:
                data = self._inflater.unused_data + data

    def finish(self) -> Iterator[bytes]:
        if self._done or self._inflater.eof:
            return
        rest = self._inflater.flush()
        if rest:
            yield rest
        if not self._inflater.eof:
            raise _Truncated


def _chunks(response: httpx.Response, allowed: BodyBudget) -> Iterator[bytes]:
    """Decoded chunks, failing as soon as any budget is spent.

    Counting decoded bytes (not ``content-length``) also stops compression bombs; the
    ratio check stops them long before the byte limit when the body is compressed.
    """
    url = str(response.request.url)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    compressed = encoding not in _IDENTITY
    if compressed and allowed.ratio is None:
        raise MalformedResponseError(
            f"a {encoding}-compressed body where an uncompressed one was asked for", url=url
        )
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and not compressed and int(declared) > allowed.max_bytes:
        raise _too_large(response, allowed, f" (declared {declared})")
    total = 0
    deadline, budget, clock = allowed.deadline, allowed.budget, allowed.clock
    for chunk in _decoded(response, encoding):
        size = len(chunk)
        total += size
        if total > allowed.max_bytes:
            raise _too_large(response, allowed, "")
        if budget is not None:
            budget.spend(size, url)
        if deadline is not None and clock() > deadline:
            raise deadline_exceeded(url, allowed.deadline_limit)
        if compressed and total > _RATIO_GRACE and allowed.ratio is not None:
            received = max(response.num_bytes_downloaded, 1)
            if total > allowed.ratio * received:
                raise ResponseTooLargeError(
                    f"a {encoding} body expanding past decompression_ratio={allowed.ratio:g} "
                    f"({received} bytes received became {total})",
                    limit="decompression_ratio",
                    value=allowed.ratio,
                    url=url,
                )
        yield chunk


def read_capped(response: httpx.Response, allowed: BodyBudget) -> bytes:
    """The whole body, or a typed error as soon as a budget is spent."""
    return b"".join(_chunks(response, allowed))


def read_prefix(response: httpx.Response, max_bytes: int) -> bytes:
    """At most ``max_bytes`` bytes of the body, silently cut: enough to read an error body.

    A body in an encoding that cannot be undone reads as empty: the status alone will do.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    out = bytearray()
    try:
        for piece in _decoded(response, encoding):
            out += piece[: max_bytes - len(out)]
            if len(out) >= max_bytes:
                break
    except MalformedResponseError:
        return b""
    return bytes(out)


def stream_capped(response: httpx.Response, sink: BinaryIO, allowed: BodyBudget) -> int:
    """Copy the body into ``sink``; returns the number of bytes written."""
    written = 0
    for chunk in _chunks(response, allowed):
        sink.write(chunk)
        written += len(chunk)
    return written


def decode_json(body: bytes, url: str, *, max_depth: int = jsoncodec.MAX_DEPTH) -> JsonValue:
    """Parse a success body; an answer that is not JSON within its limits is malformed, not data.

    Raises:
        MalformedResponseError: not JSON, or nested deeper than ``max_depth``.
    """
    try:
        return jsoncodec.decode(body, max_depth=max_depth)
    except CodecError as exc:
        raise MalformedResponseError(
            f"response is not usable JSON ({len(body)} bytes): {exc.message}", url=url
        ) from exc


def error_from_response(response: httpx.Response, body: bytes, *, xrpc: bool) -> TransportError:
    """The typed error for a non-2xx answer.

    For XRPC calls, ``{"error": ..., "message": ...}`` becomes :class:`XrpcError` with
    ``error`` set (None when the body is not in that shape, e.g. an HTML proxy page).
    Plain fetches (DID documents, well-known files) give :class:`TransportError`.
    """
    url = str(response.request.url)
    status = response.status_code
    if not xrpc:
        return TransportError(f"HTTP {status} from {url}", url=url, status=status)
    error: str | None = None
    message = ""
    try:
        parsed = jsoncodec.decode(body, max_depth=8)
    except CodecError:
        parsed = None
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), str):
            error = str(parsed["error"])[:200]
        if isinstance(parsed.get("message"), str):
            message = str(parsed["message"])[:500]
    text = f"HTTP {status}" + (f" {error}" if error else "") + (f": {message}" if message else "")
    return XrpcError(f"{text} from {url}", error=error, status=status, url=url)
