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
    "BodyLimits",
    "JsonValue",
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
ACCEPT_ENCODING = "gzip, deflate"
"""The encodings JSON answers may use: the ones :func:`_decoded` inflates step by step."""
_STEP = 256 * 1024
"""Decoded bytes produced per inflation step, however well the body compresses: a
64 KiB read of a compression bomb is not allowed to become 64 MiB at once."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """What one body may cost: bytes after decompression, a deadline, an actor's share.

    ``limit_name`` names the byte limit in errors (``json_bytes``, ``download_bytes`` …);
    ``deadline`` is :func:`time.monotonic` seconds, ``deadline_name`` the limit it came
    from; ``ratio`` caps decompressed per received bytes (None: no compression allowed);
    ``clock`` is the monotonic clock the deadline is measured on.
    """

    max_bytes: int
    limit_name: str
    deadline: float | None = None
    deadline_name: str = "request_seconds"
    deadline_value: float = 0.0
    budget: Budget | None = None
    ratio: float | None = None
    clock: Callable[[], float] = time.monotonic


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: credential-bearing header values replaced by ``<redacted>``."""
    return {k: "<redacted>" if k.lower() in _SECRET_HEADERS else v for k, v in headers.items()}


def _too_large(response: httpx.Response, limits: BodyLimits, what: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"response body exceeds {limits.limit_name}={limits.max_bytes} bytes{what}",
        limit=limits.limit_name,
        value=limits.max_bytes,
        url=str(response.request.url),
    )


def deadline_error(url: str, limits: BodyLimits) -> DeadlineExceededError:
    """The error for a request that ran past ``limits.deadline``."""
    return DeadlineExceededError(
        f"request ran past {limits.deadline_name}={limits.deadline_value:g}s",
        limit=limits.deadline_name,
        value=limits.deadline_value,
        url=url,
    )


def _decoded(response: httpx.Response, encoding: str) -> Iterator[bytes]:
    """The body with its ``content-encoding`` undone, in pieces of at most :data:`_STEP` bytes.

    Raises:
        MalformedResponseError: an encoding that was not asked for, or a corrupt stream.
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
    inflater = zlib.decompressobj(wbits)
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                piece = inflater.decompress(data, _STEP)
                if piece:
                    yield piece
                if inflater.eof and wbits == 31 and inflater.unused_data:  # another gzip member
                    data = inflater.unused_data + inflater.unconsumed_tail
                    inflater = zlib.decompressobj(wbits)
                else:
                    data = inflater.unconsumed_tail
        rest = inflater.flush()
    except zlib.error as exc:
        raise MalformedResponseError(f"a corrupt {encoding} body: {exc}", url=url) from exc
    if rest:
        yield rest


def _chunks(response: httpx.Response, limits: BodyLimits) -> Iterator[bytes]:
    """Decoded chunks, failing as soon as any budget is spent.

    Counting decoded bytes (not ``content-length``) also stops compression bombs; the
    ratio check stops them long before the byte limit when the body is compressed.
    """
    url = str(response.request.url)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    compressed = encoding not in _IDENTITY
    if compressed and limits.ratio is None:
        raise MalformedResponseError(
            f"a {encoding}-compressed body where an uncompressed one was asked for", url=url
        )
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and not compressed and int(declared) > limits.max_bytes:
        raise _too_large(response, limits, f" (declared {declared})")
    total = 0
    deadline, budget, clock = limits.deadline, limits.budget, limits.clock
    for chunk in _decoded(response, encoding):
        size = len(chunk)
        total += size
        if total > limits.max_bytes:
            raise _too_large(response, limits, "")
        if budget is not None:
            budget.spend(size, url)
        if deadline is not None and clock() > deadline:
            raise deadline_error(url, limits)
        if compressed and total > _RATIO_GRACE and limits.ratio is not None:
            received = max(response.num_bytes_downloaded, 1)
            if total > limits.ratio * received:
                raise ResponseTooLargeError(
                    f"a {encoding} body expanding past decompression_ratio={limits.ratio:g} "
                    f"({received} bytes received became {total})",
                    limit="decompression_ratio",
                    value=limits.ratio,
                    url=url,
                )
        yield chunk


def read_capped(response: httpx.Response, limits: BodyLimits) -> bytes:
    """The whole body, or a typed error as soon as a budget is spent."""
    return b"".join(_chunks(response, limits))


def read_prefix(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, silently cut: enough to read an error body.

    A body in an encoding that cannot be undone reads as empty: the status alone will do.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    out = bytearray()
    try:
        for piece in _decoded(response, encoding):
            out += piece[: limit - len(out)]
            if len(out) >= limit:
                break
    except MalformedResponseError:
        return b""
    return bytes(out)


def stream_capped(response: httpx.Response, sink: BinaryIO, limits: BodyLimits) -> int:
    """Copy the body into ``sink``; returns the number of bytes written."""
    written = 0
    for chunk in _chunks(response, limits):
        sink.write(chunk)
        written += len(chunk)
    return written


def decode_json(body: bytes, url: str, *, max_depth: int = jsoncodec.MAX_DEPTH) -> JsonValue:
    """Parse a success body; an answer that is not JSON within limits is malformed, not data.

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
