"""The reference's lenient ``datetime`` check (``isDatetimeStringLenient`` of @atproto/syntax).

A value passes when the ``iso-datestring-validator`` package accepts it, or else when it
is a strict atproto datetime (RFC 3339 with ``Z``/``±hh:mm``) that JavaScript's ``Date``
parses to a year in 0..9999. The first check builds regexes with the separators found in
the input, quirks included; they are reproduced here because verdicts must agree.
"""

from __future__ import annotations

import re

__all__ = ["is_lenient_datetime"]

_NOT_LINE_END = r"[^\n\r\u2028\u2029]"  # JavaScript's "."
_STRICT = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[012])-(?P<day>[0-2][0-9]|3[01])T(?P<hour>[0-1][0-9]|2[0-3])"
    r":(?P<minute>[0-5][0-9]):(?P<second>[0-5][0-9]|60)(?:\.[0-9]+)?"
    r"(?:Z|(?P<sign>[+-])(?P<oh>[0-1][0-9]|2[0-3]):(?P<om>[0-5][0-9]))"
)
_TIME_SEPARATOR = re.compile(r"([^Z+\-0-9])(?=[0-9]+\1)")
_NON_DIGIT = re.compile(r"[^0-9]")


def is_lenient_datetime(value: str) -> bool:
    """True when the reference's ``datetime`` format accepts ``value``."""
    try:
        if _iso_datestring(value):
            return True
    except re.error:  # the reference's try/catch around a regex built from the input
        pass
    return _strict_datetime(value)


def _first_non_digit(text: str) -> str:
    match = _NON_DIGIT.search(text)
    return match.group(0) if match else ""


def _valid_date(text: str, t: str) -> bool:
    pattern = (
        f"(?!0{{4}}{t}0{{2}}{t}0{{2}})((?=[0-9]{{4}}{t}(((0[^2])|1[0-2])|02(?={t}(([0-1][0-9])|2[0-8])))"
        f"{t}[0-9]{{2}})|(?=((([13579][26])|([2468][048])|(0[48]))0{{2}})|([0-9]{{2}}((((0|[2468])[48])"
        f"|[2468][048])|([13579][26]))){t}02{t}29))([0-9]{{4}}){t}(?!((0[469])|11){t}31)"
        f"((0[1,3-9]|1[0-2])|(02(?!{t}3))){t}(0[1-9]|[1-2][0-9]|3[0-1])"
    )
    return re.compile(pattern + r"\Z").match(text) is not None


def _valid_offset(text: str, plus: bool, r: str) -> bool:
    if plus:
        pattern = (
            f"(0(?!(2{r}4)|0{r}3)|1(?=([0-1]|2(?={r}[04])|[34](?={r}0))))([03469](?={r}[03])|[17](?={r}0)"
            f"|2(?={r}[04])|5(?={r}[034])|8(?={r}[04])){r}([03](?=0)|4(?=5))[05]"
        )
    else:
        pattern = f"(0(?=[^0])|1(?=[0-2]))([39](?={r}[03])|[0-24-8](?={r}00)){r}[03]0"
    return re.compile(pattern + r"\Z").match(text) is not None


def _valid_time(text: str, t: str) -> bool:
    time = re.compile(
        f"([0-1]|2(?=([0-3])|4{t}00))[0-9]{t}[0-5][0-9]({t}([0-5]|6(?=0))[0-9])?({_NOT_LINE_END}[0-9]{{1,9}})?\\Z"
    )
    if not re.search(r"[Z+\-]", text):
        return time.match(text) is not None
    if text.endswith("Z"):
        return time.match(text.replace("Z", "", 1)) is not None
    parts = re.split(r"[+-]", text)
    if len(parts) < 2:
        return False  # the reference tests the string "undefined", which never matches
    offset = parts[1]
    return time.match(parts[0]) is not None and _valid_offset(offset, "+" in text, _first_non_digit(offset))


def _iso_datestring(value: str) -> bool:
    parts = value.split("T")
    date = parts[0]
    valid_date = _valid_date(date, _first_non_digit(date))
    if len(parts) < 2 or not parts[1]:
        return False
    time = parts[1]
    separator = _TIME_SEPARATOR.search(time)
    return valid_date and _valid_time(time, separator.group(0) if separator else "")


def _strict_datetime(value: str) -> bool:
    if len(value) > 64 or value.endswith("-00:00"):
        return False
    match = _STRICT.fullmatch(value)
    if match is None:
        return False
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if day == 0 or match["second"] == "60":  # JavaScript's Date gives NaN for these
        return False
    minutes = int(match["hour"]) * 60 + int(match["minute"])
    if match["sign"]:
        offset = int(match["oh"]) * 60 + int(match["om"])
        minutes -= offset if match["sign"] == "+" else -offset
    days = _days_from_civil(year, month, 1) + day - 1 + minutes // 1440
    utc_year = _year_from_days(days)
    return 0 <= utc_year <= 9999


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, incl. 0)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _year_from_days(days: int) -> int:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    month_index = (5 * doy + 2) // 153
    return yoe + era * 400 + (1 if month_index >= 10 else 0)
