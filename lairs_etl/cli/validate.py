"""``lairs-etl validate [FILE|-]``: check records against their lexicons, one verdict per record.

Input is a JSON array of records, one JSON object (a single record), or JSON Lines
(one record per line, streamed so a large file is never held whole), from a file or
stdin. Each record names its type in ``$type``. stdout gets one JSON line per record,
in input order::

    {"index": 0, "type": "<nsid>", "valid": false,
     "errors": [{"path": "$.createdAt", "code": "required", "message": "..."}]}

Exit status: 0 when every record is valid, 1 when any is invalid (an unknown ``$type``
is an invalid record), 2 when the input itself is unusable (empty, not JSON within the
decoder's limits, a top-level value that is neither an array nor an object, or an array
element or JSON Lines line that is not an object); stderr then names the line or
element. Verdicts already printed for earlier JSON Lines stay printed.

JSON is read by :func:`lairs_etl.atproto.jsoncodec.decode_lenient`: ``NaN``,
``Infinity`` and lone surrogates are read so that the record holding them is reported
invalid (code ``data_model``: it could never be stored as DAG-CBOR) instead of the
whole input being refused; nesting past 128 levels or a document past 256 Mi characters is unusable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import chain
from typing import IO, TYPE_CHECKING, cast

import click

from lairs_etl.atproto import jsoncodec
from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.errors import CodecError

if TYPE_CHECKING:
    from pydantic import JsonValue

__all__ = ["command"]

_MAX_CHARS = 256 * 1024 * 1024
"""Largest single JSON document (an array of records) read whole, in characters; JSON Lines
stream, one line at a time."""


def _unusable(message: str) -> CodecError:
    """The input is not records at all (as opposed to records that fail validation): exit 2."""
    return CodecError(f"unusable input: {message}")


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
        click.get_current_context().exit(EXIT_FAILED)


def _records(source: IO[str]) -> Iterator[dict[str, JsonValue]]:
    """Records from a JSON array, a single JSON object or JSON Lines, whichever ``source`` holds.

    Raises:
        CodecError: the text is empty, not JSON, or holds something other than objects.
    """
    lines = _decoded(source)
    found = next(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), None)
    if found is None:
        raise _unusable("it holds no records (empty or only whitespace)")
    number, first = found
    if first.lstrip().startswith("{"):
        try:
            head = jsoncodec.decode_lenient(first)
        except CodecError:
            # Not one record per line: a single (pretty-printed) object, or broken.
            yield _object(_whole(first, lines), "the top-level value")
            return
        yield _object(head, f"line {number}")
        yield from _json_lines(lines, first_number=number + 1)
        return
    document = _whole(first, lines)
    if not isinstance(document, list):
        raise _unusable(f"expected a JSON array or JSON Lines of records, got a JSON {_kind(document)}")
    # The array is in memory anyway: check it whole so unusable input prints no verdicts.
    yield from [_object(element, f"element {index}") for index, element in enumerate(document)]


def _decoded(source: IO[str]) -> Iterator[str]:
    try:
        yield from source
    except UnicodeDecodeError as exc:
        raise _unusable(f"input is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _json_lines(lines: Iterator[str], *, first_number: int) -> Iterator[dict[str, JsonValue]]:
    for number, line in enumerate(lines, start=first_number):
        if not line.strip():
            continue
        try:
            value = jsoncodec.decode_lenient(line, max_bytes=_MAX_CHARS)
        except CodecError as exc:
            raise _unusable(f"line {number}: {exc.message}") from exc
        yield _object(value, f"line {number}")


def _whole(first: str, rest: Iterator[str]) -> object:
    parts, size = [], 0
    for line in chain([first], rest):
        size += len(line)
        if size > _MAX_CHARS:
            raise _unusable(f"one JSON document past {_MAX_CHARS} characters (JSON Lines stream: use them)")
        parts.append(line)
    try:
        return jsoncodec.decode_lenient("".join(parts), max_bytes=_MAX_CHARS)
    except CodecError as exc:
        raise _unusable(exc.message) from exc


def _object(value: object, where: str) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise _unusable(f"{where}: expected a JSON object (a record), got a JSON {_kind(value)}")
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
