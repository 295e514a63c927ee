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

__all__ = ["parse_age"]

_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str, now: dt.datetime) -> dt.datetime:
    """``now`` minus an age such as ``90s``, ``30m``, ``12h``, ``7d``, ``2w``, or an ISO time.

    Raises:
        ConfigError: neither an age nor an ISO 8601 time with a zone.
    """
    found = _AGE.match(text.strip())
    if found:
        return now - dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"want an age (7d, 12h) or an ISO time, not {text!r}") from exc
    if when.tzinfo is None:
        raise ConfigError(f"the time {text!r} has no time zone")
    return when
