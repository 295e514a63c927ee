"""The synchronous, thread-safe XRPC client every remote call of lairs-etl goes through."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import BinaryIO, Final, TypeAlias, TypeVar

import httpx

from lairs_etl.atproto.netsafety import GuardedTransport, check_url
from lairs_etl.atproto.xrpc._body import (
    ERROR_BODY_LIMIT,
    JsonValue,
    decode_json,
    error_from_response,
    read_capped,
    read_prefix,
    redact_headers,
    stream_capped,
)
from lairs_etl.atproto.xrpc._policy import backoff_delay, is_retryable_exception, rate_limit_wait
from lairs_etl.errors import RateLimitedError, RetriesExhaustedError, TransportError

__all__ = ["DEFAULT_TIMEOUT", "ParamValue", "Params", "XrpcClient"]

_log = logging.getLogger("lairs_etl.atproto.xrpc")
_T = TypeVar("_T")

ParamValue: TypeAlias = str | int | bool | Sequence[str] | None
Params: TypeAlias = Mapping[str, ParamValue]
"""Query parameters; a sequence repeats the key (``cids=a&cids=b``), None omits it."""

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=120.0)
_MAX_REDIRECTS = 3


class _RateLimited(Exception):
    def __init__(self, wait: float | None) -> None:
        self.wait = wait


class _ServerError(Exception):
    def __init__(self, error: TransportError) -> None:
        self.error = error


def _encode_params(params: Params | None) -> httpx.QueryParams:
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, str | int):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, str(item)) for item in value)
    return httpx.QueryParams(pairs)


class XrpcClient:
    """Queries, procedures and downloads against atproto services, safely.

    Contract:
      * Thread-safe: one client may be shared by a thread pool. At most
        ``max_concurrency_per_host`` requests run against one host at a time; a retry
        releases its slot while it sleeps.
      * Connection errors, timeouts, bodies cut short and 5xx (not 501) are retried up to
        ``max_retries`` times with full-jitter exponential backoff, then
        :class:`RetriesExhaustedError`. Procedures are retried only when the request
        provably never left (connect/pool failures) unless ``idempotent=True``.
      * 429 waits for ``retry-after`` / ``ratelimit-reset`` while the per-call wait
        budget lasts, then :class:`RateLimitedError`.
      * Bodies over the size cap raise :class:`ResponseTooLargeError` (never retried).
      * Non-2xx XRPC answers raise :class:`XrpcError` carrying ``error`` and ``status``.
      * Every URL passes :func:`~lairs_etl.atproto.netsafety.check_url`; the default
        transport also vets addresses at connection time.
      * Header values (``authorization`` …) never appear in logs or error text.

    ``sleep``, ``clock`` (unix time, for HTTP-date and epoch headers) and ``uniform``
    (jitter source in [0, 1)) are injectable so tests neither wait nor flake.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_concurrency_per_host: int = 8,
        max_retries: int = 4,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_download_bytes: int = 8 * 1024**3,
        rate_limit_budget_seconds: float = 300.0,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        allow_private_hosts: bool = False,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if max_concurrency_per_host < 1 or max_retries < 0 or max_response_bytes < 1:
            raise ValueError("concurrency must be >= 1, retries >= 0, size cap >= 1")
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        if transport is None and not allow_private_hosts:
            transport = GuardedTransport(limits=limits)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=limits,
            headers={"user-agent": user_agent or _default_user_agent()},
            follow_redirects=False,
            trust_env=False,
        )
        self.allow_private_hosts = allow_private_hosts
        self.max_response_bytes = max_response_bytes
        self.max_download_bytes = max_download_bytes
        self._per_host = max_concurrency_per_host
        self._max_retries = max_retries
        self._budget = rate_limit_budget_seconds
        self._backoff = (backoff_base_seconds, backoff_max_seconds)
        self._sleep, self._clock, self._uniform = sleep, clock, uniform
        self._slots: dict[tuple[str, str, int | None], threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    # -- public calls -------------------------------------------------------------

    def query(self, service_url: str, nsid: str, params: Params | None = None) -> JsonValue:
        """GET ``/xrpc/<nsid>`` and return the decoded JSON body.

        Raises:
            XrpcError: the service answered an error (``error``/``status`` set).
            RateLimitedError: 429 beyond the wait budget.
            RetriesExhaustedError: transient failures outlasted the retries.
            ResponseTooLargeError: the body passed ``max_response_bytes``.
            TransportError: any other network failure or a non-JSON body.
            UnsafeEndpointError: the URL or its resolved address is not allowed.
        """
        url = _xrpc_url(service_url, nsid)
        body = self._call("GET", url, params=params, consume=self._reader(self.max_response_bytes))
        return decode_json(body, url)

    def procedure(
        self,
        service_url: str,
        nsid: str,
        body: JsonValue,
        headers: Mapping[str, str] | None = None,
        *,
        idempotent: bool = False,
    ) -> JsonValue:
        """POST a JSON ``body`` to ``/xrpc/<nsid>``; ``headers`` may carry credentials.

        Set ``idempotent`` when repeating the call cannot apply it twice (e.g. a write
        guarded by ``swapCommit``); otherwise only never-sent requests are retried.

        Raises:
            XrpcError: as for :meth:`query`, and the other errors listed there.
        """
        content = json.dumps(body, separators=(",", ":")).encode()
        return self.procedure_bytes(
            service_url, nsid, content, "application/json", headers, idempotent=idempotent
        )

    def procedure_bytes(
        self,
        service_url: str,
        nsid: str,
        content: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        idempotent: bool = False,
    ) -> JsonValue:
        """POST raw bytes (a blob for ``repo.uploadBlob``) and return the JSON answer.

        Same retry, rate-limit, size-cap and redaction rules as :meth:`procedure`.

        Raises:
            XrpcError: as for :meth:`query`, and the other errors listed there.
        """
        url = _xrpc_url(service_url, nsid)
        raw = self._call(
            "POST",
            url,
            content=content,
            headers={"content-type": content_type, **(headers or {})},
            idempotent=idempotent,
            consume=self._reader(self.max_response_bytes),
        )
        return decode_json(raw, url) if raw.strip() else None

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a binary XRPC answer (a CAR from ``sync.getRepo``) into ``sink``.

        ``sink`` must be seekable: it is truncated back to its starting position before
        every attempt and after a final failure, so it only ever holds a whole body.

        Returns:
            The number of bytes written.

        Raises:
            XrpcError: as for :meth:`query`, and the other errors listed there.
        """
        url = _xrpc_url(service_url, nsid)
        start = sink.tell()
        limit = self.max_download_bytes if max_bytes is None else max_bytes

        def consume(response: httpx.Response) -> int:
            sink.seek(start)
            sink.truncate()
            return stream_capped(response, sink, limit)

        try:
            return self._call("GET", url, params=params, consume=consume)
        except BaseException:
            sink.seek(start)
            sink.truncate()
            raise

    def get_bytes(self, url: str, *, max_bytes: int | None = None, max_retries: int | None = None) -> bytes:
        """GET a plain (non-XRPC) URL such as a DID document, following a few redirects.

        Every redirect target passes the same safety check as the first URL.

        Raises:
            TransportError: non-2xx (``status`` set), network failure, or the errors of
                :meth:`query` other than :class:`XrpcError`.
        """
        limit = self.max_response_bytes if max_bytes is None else max_bytes
        return self._call(
            "GET",
            url,
            consume=self._reader(limit),
            xrpc=False,
            redirects=_MAX_REDIRECTS,
            max_retries=max_retries,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> XrpcClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- machinery ----------------------------------------------------------------

    @staticmethod
    def _reader(limit: int) -> Callable[[httpx.Response], bytes]:
        return lambda response: read_capped(response, limit)

    def _slot(self, url: httpx.URL) -> threading.BoundedSemaphore:
        key = (url.scheme, url.host, url.port)
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = threading.BoundedSemaphore(self._per_host)
            return slot

    def _call(
        self,
        method: str,
        url: str,
        *,
        consume: Callable[[httpx.Response], _T],
        params: Params | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        xrpc: bool = True,
        redirects: int = 0,
        max_retries: int | None = None,
    ) -> _T:
        target = check_url(url, allow_private_hosts=self.allow_private_hosts)
        retries = self._max_retries if max_retries is None else max_retries
        query = _encode_params(params)
        attempt, waited = 0, 0.0
        while True:
            request = self._http.build_request(method, target, params=query, content=content, headers=headers)
            started = time.perf_counter()
            try:
                with self._slot(target):
                    response = self._http.send(request, stream=True)
                    try:
                        location = self._check(
                            response, idempotent=idempotent, xrpc=xrpc, redirects=redirects
                        )
                        if location is None:
                            result = consume(response)
                    finally:
                        response.close()
                _log.debug(
                    "%s %s -> %d in %.1f ms (attempt %d, headers %s)",
                    method,
                    request.url,
                    response.status_code,
                    (time.perf_counter() - started) * 1000,
                    attempt + 1,
                    redact_headers(request.headers),
                )
                if location is None:
                    return result
                target = check_url(location, allow_private_hosts=self.allow_private_hosts)
                redirects -= 1
                continue
            except _RateLimited as limited:
                wait = max(limited.wait if limited.wait is not None else 0.0, self._backoff[0])
                if waited + wait > self._budget:
                    raise RateLimitedError(
                        f"rate limited by {target.host}; next wait {wait:.1f}s would exceed the "
                        f"{self._budget:.0f}s budget",
                        retry_after=limited.wait,
                        url=str(request.url),
                    ) from None
                _log.debug("429 from %s: waiting %.1f s", target.host, wait)
                waited += wait
                self._sleep(wait)
                continue
            except _ServerError as server:
                failure: Exception = server.error
            except httpx.HTTPError as exc:
                if not is_retryable_exception(exc, idempotent=idempotent):
                    raise TransportError(
                        f"{method} {request.url} failed: {type(exc).__name__}: {exc}", url=str(request.url)
                    ) from exc
                failure = exc
            attempt += 1
            if attempt > retries:
                status = failure.status if isinstance(failure, TransportError) else None
                raise RetriesExhaustedError(
                    f"{method} {request.url} failed after {attempt} attempts: {type(failure).__name__}: "
                    f"{failure}",
                    url=str(request.url),
                    status=status,
                ) from failure
            delay = backoff_delay(attempt, base=self._backoff[0], cap=self._backoff[1], uniform=self._uniform)
            _log.debug("retry %s %s in %.2f s: %s", method, request.url, delay, type(failure).__name__)
            self._sleep(delay)

    def _check(self, response: httpx.Response, *, idempotent: bool, xrpc: bool, redirects: int) -> str | None:
        """Raise for a non-2xx answer; return a redirect target to follow, else None."""
        status = response.status_code
        if 200 <= status < 300:
            return None
        if response.is_redirect and redirects > 0 and "location" in response.headers:
            return str(response.url.join(response.headers["location"]))
        body = read_prefix(response, ERROR_BODY_LIMIT) if status >= 400 else b""
        if status == 429:
            raise _RateLimited(rate_limit_wait(response.headers, now=self._clock()))
        error = error_from_response(response, body, xrpc=xrpc)
        if status >= 500 and status != 501 and idempotent:
            raise _ServerError(error)
        raise error


def _default_user_agent() -> str:
    try:
        return f"lairs-etl/{importlib.metadata.version('lairs-etl')}"
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "lairs-etl"


def _xrpc_url(service_url: str, nsid: str) -> str:
    return f"{service_url.rstrip('/')}/xrpc/{nsid}"
