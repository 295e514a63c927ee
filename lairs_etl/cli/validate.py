"""``lairs-etl validate [FILE|-]``: check records against their lexicons, one verdict per record.

Input is a JSON array of records, one JSON object (a single record), or JSON Lines
(one record per line, streamed so a large file is never held whole), from a file or
stdin. Each record names its type in ``$type``. stdout gets one JSON line per record,
in input order::

    {"index": 0, "type": "<nsid>", "valid": false,
     "errors": [{"path": "$.createdAt", "code": "required", "message": "..."}]}

Exit status: 0 when every record is valid, 1 when any is invalid (an unknown ``$type``
is an invalid record), 2 when the input itself is unusable (not JSON, a top-level value
that is neither an array nor an object, or an array element or JSON Lines line that is
not an object); stderr then names the line or element. Verdicts already printed for
earlier JSON Lines stay printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import chain
from typing import IO, TYPE_CHECKING, cast

import click

if TYPE_CHECKING:
    from pydantic import JsonValue

__all__ = ["command"]

_EXIT_INVALID = 1
_EXIT_UNUSABLE = 2


class _UnusableInput(click.ClickException):
    """The input is not records at all (as opposed to records that fail validation)."""

    exit_code = _EXIT_UNUSABLE


@click.command("validate")
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
def command(source: IO[str]) -> None:
    """Validate the records in SOURCE against their lexicons.

    SOURCE is a JSON array of records, one record, or JSON Lines (streamed); '-' or
    nothing reads stdin. Each record names its type in "$type". Prints one JSON line per
    record: {"index", "type", "valid", "errors": [{"path", "code", "message"}]}.

    Exit status: 0 all valid, 1 some record invalid (an unknown $type included),
    2 unusable input (not JSON, or not records).
    """
    from lairs_etl.records import validate_record

    out = sys.stdout
    any_invalid = False
    for index, record in enumerate(_records(source)):
        result = validate_record(record)
        any_invalid |= not result.valid
        raw_type = record.get("$type")
        verdict = {
            "index": index,
            "type": raw_type if isinstance(raw_type, str) else None,
            "valid": result.valid,
            "errors": [{"path": d.path, "code": d.code, "message": d.message} for d in result.diagnostics],
        }
        out.write(json.dumps(verdict) + "\n")
    out.flush()
    if any_invalid:
        click.get_current_context().exit(_EXIT_INVALID)


def _records(source: IO[str]) -> Iterator[dict[str, JsonValue]]:
    """Records from a JSON array, a single JSON object or JSON Lines, whichever ``source`` holds.

    Raises:
        _UnusableInput: the text is not JSON, or holds something other than objects.
    """
    lines = _decoded(source)
    found = next(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), None)
    if found is None:
        return
    number, first = found
    if first.lstrip().startswith("{"):
        try:
            head = json.loads(first)
        except json.JSONDecodeError:
            # Not one record per line: a single (pretty-printed) object, or broken.
            yield _object(_whole(first, lines), "the top-level value")
            return
        yield _object(head, f"line {number}")
        yield from _json_lines(lines, first_number=number + 1)
        return
    document = _whole(first, lines)
    if not isinstance(document, list):
        raise _UnusableInput(f"expected a JSON array or JSON Lines of records, got a JSON {_kind(document)}")
    # The array is in memory anyway: check it whole so unusable input prints no verdicts.
    yield from [_object(element, f"element {index}") for index, element in enumerate(document)]


def _decoded(source: IO[str]) -> Iterator[str]:
    try:
        yield from source
    except UnicodeDecodeError as exc:
        raise _UnusableInput(f"input is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _json_lines(lines: Iterator[str], *, first_number: int) -> Iterator[dict[str, JsonValue]]:
    for number, line in enumerate(lines, start=first_number):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _UnusableInput(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        yield _object(value, f"line {number}")


def _whole(first: str, rest: Iterator[str]) -> object:
    text = "".join(chain([first], rest))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _UnusableInput(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc


def _object(value: object, where: str) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise _UnusableInput(f"{where}: expected a JSON object (a record), got a JSON {_kind(value)}")
    return cast("dict[str, JsonValue]", value)


def _kind(value: object) -> str:
    kinds: dict[type, str] = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        type(None): "null",
    }
    return kinds.get(type(value), "number")
