"""How far back a lake keeps its history: ages such as ``7d`` as a cutoff time.

One parser for the two places a retention is written: ``lairs-etl lake expire
--older-than`` and the Dagster maintenance schedule's ``maintenance.expire_older_than``
(checked when the settings load, so a typo fails the code location, not a nightly run).
Nothing heavy is imported here: the code location loads it.
"""

from __future__ import annotations

import datetime as dt
import re

from lairs_etl.errors import ConfigError

__all__ = ["age", "parse_age"]

_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def age(text: str) -> dt.timedelta:
    """An age such as ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (a schedule's retention: no fixed time).

    Raises:
        ConfigError: not an age.
    """
    found = _AGE.match(text.strip())
    if not found:
        raise ConfigError(f"not an age (such as 7d or 12h): {text!r}")
    return _delta(found)


def parse_age(text: str, now: dt.datetime) -> dt.datetime:
    """``now`` minus an age (see :func:`age`), or an ISO 8601 time with a zone as it is.

    Raises:
        ConfigError: neither an age nor an ISO 8601 time with a zone.
    """
    found = _AGE.match(text.strip())
    if found:
        return now - _delta(found)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"not an age (such as 7d or 12h) nor an ISO time: {text!r}") from exc
    if when.tzinfo is None:
        raise ConfigError(f"the time {text!r} has no time zone")
    return when


def _delta(found: re.Match[str]) -> dt.timedelta:
    return dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
