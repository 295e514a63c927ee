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

from lairs_etl.atproto.limits import Budget, FetchLimits
from lairs_etl.atproto.netsafety import GuardedTransport, HostPolicy, check_url, request_deadline
from lairs_etl.atproto.xrpc._body import (
    ACCEPT_ENCODING,
    ERROR_BODY_LIMIT,
    BodyBudget,
    JsonValue,
    deadline_exceeded,
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
      * Every call ends within ``limits.request_seconds`` (retries and waits included)
        and, when given a :class:`~lairs_etl.atproto.limits.Budget`, within the actor's
        deadline, else :class:`DeadlineExceededError`; each read and write of the
        default transport is bounded by that deadline, so a body trickling in ends on
        time.
      * Bodies past their byte limit (``json_bytes``, ``download_bytes``, the actor's
        ``actor_bytes``, counted after decompression) or expanding past
        ``decompression_ratio`` raise :class:`ResponseTooLargeError` as soon as the
        bytes arrive (never retried); binary answers are asked for uncompressed and a
        compressed one is refused (:class:`MalformedResponseError`).
      * JSON answers are decoded by :mod:`lairs_etl.atproto.jsoncodec`: one that is not
        JSON within its limits is a :class:`MalformedResponseError`.
      * Non-2xx XRPC answers raise :class:`XrpcError` carrying ``error`` and ``status``.
      * Every URL passes :func:`~lairs_etl.atproto.netsafety.check_url`; the default
        transport also vets addresses at connection time (``allow_private_hosts``
        allows loopback and private ranges, ``allow_metadata_hosts`` link-local and
        cloud metadata endpoints).
      * Header values (``authorization`` …) never appear in logs or error text.

    ``sleep``, ``clock`` (unix time, for HTTP-date and epoch headers), ``monotonic``
    (deadlines) and ``uniform`` (jitter source in [0, 1)) are injectable so tests
    neither wait nor flake.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        limits: FetchLimits | None = None,
        max_concurrency_per_host: int = 8,
        max_retries: int = 4,
        rate_limit_budget_seconds: float = 300.0,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        allow_private_hosts: bool = False,
        allow_metadata_hosts: bool = False,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if max_concurrency_per_host < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1, retries >= 0")
        pool = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self.policy = HostPolicy(allow_private_hosts, allow_metadata_hosts)
        if transport is None:
            transport = GuardedTransport(limits=pool, policy=self.policy)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=pool,
            headers={"user-agent": user_agent or _default_user_agent(), "accept-encoding": ACCEPT_ENCODING},
            follow_redirects=False,
            trust_env=False,
        )
        self.limits = limits or FetchLimits()
        self._per_host = max_concurrency_per_host
        self._max_retries = max_retries
        self._rate_limit_wait = rate_limit_budget_seconds
        self._backoff = (backoff_base_seconds, backoff_max_seconds)
        self._sleep, self._clock, self._monotonic, self._uniform = sleep, clock, monotonic, uniform
        self._slots: dict[tuple[str, str, int | None], threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    @property
    def allow_private_hosts(self) -> bool:
        """Whether loopback and private hosts may be reached (a local PDS needs it)."""
        return self.policy.allow_private_hosts

    @property
    def allow_metadata_hosts(self) -> bool:
        """Whether link-local and cloud metadata hosts may be reached."""
        return self.policy.allow_metadata_hosts

    def check_url(self, url: str) -> httpx.URL:
        """``url`` parsed, if this client's policy allows it.

        Raises:
            UnsafeEndpointError: a scheme, credentials or host the policy refuses.
        """
        return check_url(url, policy=self.policy)

    # -- public calls -------------------------------------------------------------

    def query(
        self, service_url: str, nsid: str, params: Params | None = None, *, budget: Budget | None = None
    ) -> JsonValue:
        """GET ``/xrpc/<nsid>`` and return the decoded JSON body.

        ``budget`` is the actor's share the call draws on (deadline and bytes).

        Raises:
            XrpcError: the service answered an error (``error``/``status`` set).
            RateLimitedError: 429 beyond the wait budget.
            RetriesExhaustedError: transient failures outlasted the retries.
            ResponseTooLargeError: the body passed ``json_bytes``, the actor's
                ``actor_bytes`` or ``decompression_ratio``.
            DeadlineExceededError: the call ran past ``request_seconds`` or the actor's
                deadline.
            MalformedResponseError: the body is not JSON within its limits.
            TransportError: any other network failure.
            UnsafeEndpointError: the URL or its resolved address is not allowed.
        """
        url = _xrpc_url(service_url, nsid)
        body = self._call(
            "GET", url, params=params, budget=budget, consume=self._json_body("json_bytes", budget=budget)
        )
        return decode_json(body, url, max_depth=self.limits.json_depth)

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
            consume=self._json_body("json_bytes"),
        )
        return decode_json(raw, url, max_depth=self.limits.json_depth) if raw.strip() else None

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
        budget: Budget | None = None,
    ) -> int:
        """Stream a binary XRPC answer (a CAR from ``sync.getRepo``) into ``sink``.

        ``sink`` must be seekable: it is truncated back to its starting position before
        every attempt and after a final failure, so it only ever holds a whole body. An
        exception ``sink.write`` raises (a reader that already knows the body is
        unusable) stops the download at once and reaches the caller as it is.
        ``max_bytes`` tightens ``download_bytes`` for this call.

        Returns:
            The number of bytes written.

        Raises:
            XrpcError: as for :meth:`query`, and the other errors listed there.
        """
        url = _xrpc_url(service_url, nsid)
        start = sink.tell()
        allowed = self._body_budget("download_bytes", max_bytes, budget=budget, compressed=False)

        def consume(response: httpx.Response, deadline: float | None) -> int:
            sink.seek(start)
            sink.truncate()
            return stream_capped(response, sink, allowed(deadline))

        try:
            return self._call(
                "GET", url, params=params, consume=consume, budget=budget,
                headers={"accept-encoding": "identity"},
            )
        except BaseException:
            sink.seek(start)
            sink.truncate()
            raise

    def get_bytes(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        max_retries: int | None = None,
        budget: Budget | None = None,
    ) -> bytes:
        """GET a plain (non-XRPC) URL such as a DID document, following a few redirects.

        Every redirect target passes the same safety check as the first URL.
        ``max_bytes`` tightens ``json_bytes`` for this call.

        Raises:
            TransportError: non-2xx (``status`` set), network failure, or the errors of
                :meth:`query` other than :class:`XrpcError`.
        """
        return self._call(
            "GET",
            url,
            consume=self._json_body("json_bytes", max_bytes, budget=budget),
            xrpc=False,
            redirects=_MAX_REDIRECTS,
            max_retries=max_retries,
            budget=budget,
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

    def _body_budget(
        self, name: str, max_bytes: int | None, *, budget: Budget | None, compressed: bool
    ) -> Callable[[float | None], BodyBudget]:
        """What a body may cost, given the deadline of the call it answers."""
        limit = int(getattr(self.limits, name))
        if max_bytes is not None:
            limit = min(limit, max_bytes)

        def for_deadline(deadline: float | None) -> BodyBudget:
            return BodyBudget(
                max_bytes=limit,
                byte_limit=name,
                deadline=deadline,
                deadline_limit=self._binding(budget, deadline),
                budget=budget,
                ratio=self.limits.decompression_ratio if compressed else None,
                clock=self._monotonic,
            )

        return for_deadline

    def _json_body(
        self, name: str, max_bytes: int | None = None, *, budget: Budget | None = None
    ) -> Callable[[httpx.Response, float | None], bytes]:
        allowed = self._body_budget(name, max_bytes, budget=budget, compressed=True)
        return lambda response, deadline: read_capped(response, allowed(deadline))

    def _binding(self, budget: Budget | None, deadline: float | None) -> tuple[str, float]:
        """Which limit a deadline comes from: the actor's when it is the earlier one."""
        if budget is not None and deadline is not None and deadline >= budget.deadline:
            return "actor_seconds", budget.limits.actor_seconds
        return "request_seconds", self.limits.request_seconds

    def _slot(self, url: httpx.URL) -> threading.BoundedSemaphore:
        key = (url.scheme, url.host, url.port)
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = threading.BoundedSemaphore(self._per_host)
            return slot

    def _timeout(self, remaining: float) -> httpx.Timeout:
        """The client's timeouts, none longer than what is left of the deadline."""
        base = self._http.timeout

        def clip(value: float | None) -> float:
            return remaining if value is None else min(value, remaining)

        return httpx.Timeout(
            connect=clip(base.connect), read=clip(base.read), write=clip(base.write), pool=clip(base.pool)
        )

    def _call(  # noqa: PLR0915  # one retry loop: its branches read best together
        self,
        method: str,
        url: str,
        *,
        consume: Callable[[httpx.Response, float | None], _T],
        params: Params | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        xrpc: bool = True,
        redirects: int = 0,
        max_retries: int | None = None,
        budget: Budget | None = None,
    ) -> _T:
        target = self.check_url(url)
        retries = self._max_retries if max_retries is None else max_retries
        query = _encode_params(params)
        deadline = self._monotonic() + self.limits.request_seconds
        if budget is not None:
            deadline = min(deadline, budget.deadline)
        binding = self._binding(budget, deadline)
        attempt, waited = 0, 0.0
        while True:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise deadline_exceeded(str(target), binding)
            request = self._http.build_request(
                method,
                target,
                params=query,
                content=content,
                headers=headers,
                timeout=self._timeout(remaining),
            )
            started = time.perf_counter()
            slot = self._slot(target)
            if not slot.acquire(timeout=max(remaining, 0.0)):  # waiting for a turn counts too
                raise deadline_exceeded(str(target), binding)
            try:
                try:
                    with request_deadline(deadline, self._monotonic):
                        response = self._http.send(request, stream=True)
                        try:
                            location = self._check(
                                response, idempotent=idempotent, xrpc=xrpc, redirects=redirects
                            )
                            if location is None:
                                result = consume(response, deadline)
                        finally:
                            response.close()
                finally:
                    slot.release()  # before any wait below: a retry sleeps without its slot
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
                target = self.check_url(location)
                redirects -= 1
                continue
            except _RateLimited as limited:
                wait = max(limited.wait if limited.wait is not None else 0.0, self._backoff[0])
                if waited + wait > self._rate_limit_wait or self._monotonic() + wait >= deadline:
                    raise RateLimitedError(
                        f"rate limited by {target.host}; next wait {wait:.1f}s would exceed the "
                        f"{self._rate_limit_wait:.0f}s wait budget or the request's deadline",
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
                if self._monotonic() >= deadline:
                    raise deadline_exceeded(str(request.url), binding) from exc
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
            if self._monotonic() + delay >= deadline:
                raise deadline_exceeded(str(request.url), binding) from failure
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
