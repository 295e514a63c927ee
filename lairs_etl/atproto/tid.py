"""Timestamp identifiers (TIDs): record keys and repository revisions.

A TID is a 64-bit integer written as 13 characters of base32-sortable
(``234567abcdefghijklmnopqrstuvwxyz``): the top bit 0, then 53 bits of microseconds
since the Unix epoch, then a 10-bit clock identifier. Because the alphabet is in ASCII
order, TIDs sort as strings in time order. Each process keeps one random clock id and
never hands out the same or an earlier timestamp twice, so its TIDs strictly increase
even when the wall clock stalls or steps back.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from lairs_etl.atproto.syntax import Tid
from lairs_etl.errors import InvalidIdentifier

__all__ = ["next_tid", "tid_from_parts", "tid_timestamp"]

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}
_MAX_MICROS = (1 << 53) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_lock = threading.Lock()
_clock_id = secrets.randbelow(1024)
_last_micros = 0


def tid_from_parts(micros: int, clock_id: int) -> Tid:
    """The TID for a microsecond timestamp and a clock id.

    Raises:
        InvalidIdentifier: ``micros`` outside 0..2**53-1 or ``clock_id`` outside 0..1023.
    """
    if not (0 <= micros <= _MAX_MICROS and 0 <= clock_id < 1024):
        message = f"TID parts out of range: {micros}, {clock_id}"
        raise InvalidIdentifier(message, kind="tid", value=str(micros))
    value = (micros << 10) | clock_id
    chars = [_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5)]
    return Tid("".join(chars))


def next_tid() -> Tid:
    """A fresh TID, strictly greater than every TID this process handed out before."""
    global _last_micros  # noqa: PLW0603  # the per-process clock is the point
    with _lock:
        _last_micros = max(time.time_ns() // 1000, _last_micros + 1)
        micros = _last_micros
    return tid_from_parts(micros, _clock_id)


def tid_timestamp(tid: str) -> datetime:
    """When a TID was minted (UTC, microsecond precision).

    Raises:
        InvalidIdentifier: ``tid`` is not TID syntax.
    """
    value = 0
    for char in Tid(tid):
        value = (value << 5) | _INDEX[char]
    return _EPOCH + timedelta(microseconds=value >> 10)
