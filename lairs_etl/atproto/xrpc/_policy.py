"""When to retry and how long to wait: full-jitter backoff and rate-limit headers.

Kept apart from the client so the arithmetic is testable without any HTTP.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable, Mapping

import httpx

__all__ = ["backoff_delay", "is_retryable_exception", "rate_limit_wait"]

# ``ratelimit-reset`` is epoch seconds on atproto services but delta seconds in the IETF
# draft; any value this large can only be an epoch.
_EPOCH_THRESHOLD = 1_000_000_000


def backoff_delay(attempt: int, *, base: float, cap: float, uniform: Callable[[], float]) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt))``.

    Full jitter (rather than equal or no jitter) spreads the retries of many parallel
    workers hitting the same PDS, which is exactly the fetch pool's situation.
    """
    return uniform() * min(cap, base * float(1 << max(attempt - 1, 0)))


def rate_limit_wait(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds a 429 asks us to wait, from ``retry-after`` or ``ratelimit-reset``.

    ``retry-after`` may be delta seconds or an HTTP date; ``ratelimit-reset`` is a unix
    time (or delta seconds). Returns None when neither header is usable: a value that
    is not a finite number (``nan``, ``inf``, ``1e999``) is not usable.
    """
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        wait = _seconds_or_date(retry_after.strip(), now)
        if wait is not None:
            return max(wait, 0.0)
    reset = headers.get("ratelimit-reset")
    if reset is not None:
        value = _finite(reset.strip())
        if value is None:
            return None
        return max(value - now if value >= _EPOCH_THRESHOLD else value, 0.0)
    return None


def _finite(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _seconds_or_date(value: str, now: float) -> float | None:
    number = _finite(value)
    if number is not None:
        return number
    try:
        when = email.utils.parsedate_to_datetime(value)
        return when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def is_retryable_exception(exc: httpx.HTTPError, *, idempotent: bool) -> bool:
    """Whether repeating the request after ``exc`` is safe and may help.

    A request that may have reached the server (read errors, read timeouts, a peer
    closing mid-body) is repeated only when it is idempotent; failures that prove
    nothing was sent (connect, pool) are always retryable.
    """
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if not idempotent:
        return False
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)
