"""The budgets that keep a hostile or broken peer from exhausting a run.

:class:`FetchLimits` holds every limit a user can set, with defaults that serve the
largest real repositories (a multi-GB ``getRepo`` over an ordinary link fits in them);
the CLI's ``--limit NAME=VALUE``, ``lairs.yaml``'s ``atproto.limits`` and the Dagster
resource's ``limits`` field all go through :meth:`FetchLimits.with_overrides`, so the
three spell the names and units the same way.

:class:`Budget` is one actor's share at run time: a deadline and a byte allowance that
every request made for the actor draws on, from any thread.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lairs_etl.errors import ConfigError, DeadlineExceededError, ResponseTooLargeError

__all__ = ["LIMIT_HELP", "Budget", "FetchLimits", "parse_limit_overrides"]

_KIB = 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": _KIB,
    "mib": _KIB**2,
    "gib": _KIB**3,
    "tib": _KIB**4,
}


def _limit(default: float, unit: str, help_text: str) -> Any:
    return dataclasses.field(default=default, metadata={"unit": unit, "help": help_text})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Every budget of a fetch; sizes in bytes, times in seconds.

    A limit that runs out raises a :class:`~lairs_etl.errors.LimitExceededError` whose
    ``limit`` is the field's name, for that request or that actor only.
    """

    request_seconds: float = _limit(
        1800.0, "seconds", "one request, first connection to last byte, retries and 429 waits included"
    )
    actor_seconds: float = _limit(3600.0, "seconds", "one actor's fetch (identity resolution excluded)")
    json_bytes: int = _limit(64 * _KIB**2, "bytes", "one JSON answer, after decompression")
    download_bytes: int = _limit(
        8 * _KIB**3, "bytes", "one binary answer (a getRepo CAR), after decompression"
    )
    actor_bytes: int = _limit(
        8 * _KIB**3, "bytes", "every answer of one actor's fetch together, decompressed"
    )
    decompression_ratio: float = _limit(
        200.0,
        "ratio",
        "decompressed per received byte of a compressed JSON answer, past its first MiB "
        "(binary answers are asked for uncompressed, and refused compressed)",
    )
    records_bytes: int = _limit(
        512 * _KIB**2,
        "bytes",
        "listRecords records of one actor together (DAG-CBOR bytes): the records mode holds "
        "them in memory until the actor is done, at 2-3x this for large records, more for small ones",
    )
    pages: int = _limit(
        100_000,
        "pages",
        "listRecords pages per collection (100 records each); a cursor that comes back is refused at once",
    )
    json_depth: int = _limit(128, "levels", "nesting of arrays and objects in a JSON answer (at most 1000)")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"limit {field.name} must be a finite number, not {value!r}")
            if value <= 0:
                raise ConfigError(f"limit {field.name} must be positive, not {value!r}")
        if self.json_depth > 1000:
            raise ConfigError("limit json_depth cannot exceed 1000 (the decoder's own nesting bound)")

    def with_overrides(self, overrides: Mapping[str, object]) -> FetchLimits:
        """A copy with some limits changed; values may be numbers or strings (``"64MiB"``).

        Raises:
            ConfigError: an unknown limit name, or a value that is not a positive number
                (sizes may carry a unit: ``B``, ``KB``/``KiB``, ``MB``/``MiB``, ``GB``/``GiB``).
        """
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, float | int] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise ConfigError(f"unknown limit {name!r}; known: {', '.join(sorted(known))}")
            integral = known[name].type in ("int", int)
            changes[name] = _number(name, raw, integral=integral)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]  # checked by __post_init__


def parse_limit_overrides(items: object) -> dict[str, str]:
    """``NAME=VALUE`` items (a sequence, or one string separated by commas or spaces) as a mapping.

    Raises:
        ConfigError: an item without ``=``.
    """
    if isinstance(items, str):
        items = [part for part in re.split(r"[\s,]+", items) if part]
    out: dict[str, str] = {}
    for item in items if isinstance(items, list | tuple) else ():
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"a limit is NAME=VALUE, not {item!r}")
        out[name.strip()] = value.strip()
    return out


def _number(name: str, raw: object, *, integral: bool) -> float | int:
    if isinstance(raw, bool):
        raise ConfigError(f"limit {name} must be a number, not {raw!r}")
    if isinstance(raw, int | float):
        value: float = raw
    elif isinstance(raw, str):
        match = _SIZE.match(raw)
        if match is None:
            raise ConfigError(f"limit {name}: {raw!r} is not a number (sizes may end in KiB, MiB, GiB)")
        value = float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
    else:
        raise ConfigError(f"limit {name} must be a number, not {raw!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"limit {name} must be a positive number, not {raw!r}")
    return int(value) if integral else float(value)


class Budget:
    """One actor's deadline and byte allowance, shared by every request made for it.

    Thread-safe: the ``tree`` mode's parallel ``getBlocks`` calls draw on one budget.
    ``clock`` is monotonic seconds (injectable, so tests never wait).
    """

    def __init__(
        self, limits: FetchLimits, *, actor: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.actor = actor
        self.deadline = clock() + limits.actor_seconds
        self._clock = clock
        self._left = limits.actor_bytes
        self._lock = threading.Lock()

    def remaining_seconds(self) -> float:
        """Seconds left before the actor's deadline (negative once it passed)."""
        return self.deadline - self._clock()

    def check_time(self, url: str | None = None) -> None:
        """Raise once the actor's deadline has passed.

        Raises:
            DeadlineExceededError: ``limit="actor_seconds"``.
        """
        if self.remaining_seconds() <= 0:
            raise DeadlineExceededError(
                f"the actor's fetch took longer than actor_seconds={self.limits.actor_seconds:g}",
                limit="actor_seconds",
                value=self.limits.actor_seconds,
                url=url,
                actor=self.actor,
            )

    def spend(self, size: int, url: str | None = None) -> None:
        """Count ``size`` more bytes received for the actor.

        Raises:
            ResponseTooLargeError: ``limit="actor_bytes"``, once the allowance is spent.
        """
        with self._lock:
            self._left -= size
            over = self._left < 0
        if over:
            raise ResponseTooLargeError(
                f"the actor's answers exceed actor_bytes={self.limits.actor_bytes}",
                limit="actor_bytes",
                value=self.limits.actor_bytes,
                url=url,
                actor=self.actor,
            )


LIMIT_HELP: Mapping[str, str] = {
    f.name: f"{f.metadata['help']} [{f.metadata['unit']}, default {f.default}]"
    for f in dataclasses.fields(FetchLimits)
}
"""Each limit's meaning, unit and default, for ``--help`` and error messages."""
