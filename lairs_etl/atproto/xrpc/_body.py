"""Reading response bodies under a size cap, and turning error bodies into typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import BinaryIO, TypeAlias

import httpx

from lairs_etl.errors import ResponseTooLargeError, TransportError, XrpcError

__all__ = [
    "ERROR_BODY_LIMIT",
    "JsonValue",
    "decode_json",
    "error_from_response",
    "read_capped",
    "read_prefix",
    "redact_headers",
    "stream_capped",
]

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
"""A decoded JSON value as the server sent it (validate before trusting its shape)."""

ERROR_BODY_LIMIT = 64 * 1024
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "dpop"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: credential-bearing header values replaced by ``<redacted>``."""
    return {k: "<redacted>" if k.lower() in _SECRET_HEADERS else v for k, v in headers.items()}


def _too_large(response: httpx.Response, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"response body exceeds {limit} bytes", limit=limit, url=str(response.request.url)
    )


def _chunks(response: httpx.Response, limit: int) -> Iterator[bytes]:
    """Decoded chunks, failing as soon as the running total passes ``limit``.

    Counting decoded bytes (not ``content-length``) also stops compression bombs.
    """
    declared = response.headers.get("content-length")
    plain = "content-encoding" not in response.headers
    if declared is not None and declared.isdigit() and plain and int(declared) > limit:
        raise _too_large(response, limit)
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise _too_large(response, limit)
        yield chunk


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole body, or :class:`ResponseTooLargeError` past ``limit`` bytes."""
    return b"".join(_chunks(response, limit))


def read_prefix(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, silently cut: enough to read an error body."""
    parts: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        parts.append(chunk[: limit - total])
        total += len(parts[-1])
        if total >= limit:
            break
    return b"".join(parts)


def stream_capped(response: httpx.Response, sink: BinaryIO, limit: int) -> int:
    """Copy the body into ``sink``; returns the number of bytes written."""
    written = 0
    for chunk in _chunks(response, limit):
        sink.write(chunk)
        written += len(chunk)
    return written


def decode_json(body: bytes, url: str) -> JsonValue:
    """Parse a success body; a non-JSON answer is a transport failure, not data."""
    try:
        value: JsonValue = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TransportError(f"response is not JSON ({len(body)} bytes)", url=url) from exc
    return value


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
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        parsed = None
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), str):
            error = parsed["error"][:200]
        if isinstance(parsed.get("message"), str):
            message = parsed["message"][:500]
    text = f"HTTP {status}" + (f" {error}" if error else "") + (f": {message}" if message else "")
    return XrpcError(f"{text} from {url}", error=error, status=status, url=url)
