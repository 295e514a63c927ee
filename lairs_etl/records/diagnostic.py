"""Violations as stable, machine-readable diagnostics (path, code, message)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from lairs_etl.records.lextypes import NOISE_BRANCHES

__all__ = ["Diagnostic", "diagnostics_from_error"]

# pydantic-core error types → our stable codes; custom errors raised by lextypes
# already carry our code as their type and pass through unchanged.
_CODES: dict[str, str] = {
    "missing": "required",
    "model_type": "type",
    "model_attributes_type": "type",
    "dict_type": "type",
    "string_type": "type",
    "int_type": "type",
    "bool_type": "type",
    "list_type": "type",
    "string_too_long": "max_length",
    "too_long": "max_length",
    "string_too_short": "min_length",
    "too_short": "min_length",
    "greater_than_equal": "minimum",
    "less_than_equal": "maximum",
    "literal_error": "enum",
    "union_tag_not_found": "union.missing_type",
    "union_tag_invalid": "union.unknown_type",
}
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One violation: where (a JSON path from ``$``), what (a stable code), and a message.

    Codes: ``required``, ``type``, ``max_length``/``min_length`` (strings in UTF-8
    bytes, arrays in items, bytes in bytes), ``max_graphemes``/``min_graphemes``,
    ``minimum``/``maximum``, ``enum`` (also a string ``const``), ``const`` (integer and
    boolean), ``format.<name>`` (e.g. ``format.datetime``), ``union.missing_type``,
    ``union.unknown_type``, ``cid_link``, ``bytes``, ``blob``, ``unknown``,
    ``record_type`` (``$type`` missing or not the expected NSID) and
    ``unknown_record_type`` (no lexicon for the record's ``$type``).
    """

    path: str
    code: str
    message: str


def diagnostics_from_error(error: ValidationError) -> tuple[Diagnostic, ...]:
    """Every violation pydantic-core found, in its order, as diagnostics."""
    return tuple(
        _diagnostic(detail)
        for detail in error.errors(include_url=False, include_input=False)
        if NOISE_BRANCHES.isdisjoint(detail["loc"])
    )


def _diagnostic(detail: ErrorDetails) -> Diagnostic:
    kind = detail["type"]
    code = _CODES.get(kind, kind)
    message = detail["msg"]
    if code == "union.missing_type":
        message = 'must be an object with a string "$type"'
    elif code == "union.unknown_type":
        message = "$type is not one of the union's refs"
    return Diagnostic(path=json_path(detail["loc"]), code=code, message=message)


def json_path(loc: tuple[int | str, ...]) -> str:
    """``("annotations", 3, "anchor")`` → ``$.annotations[3].anchor``.

    Union tags (``lex:…``) that pydantic inserts into locations are not part of the
    data and are dropped.
    """
    parts = ["$"]
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item.startswith("lex:"):
            continue
        elif _IDENTIFIER.fullmatch(item):
            parts.append(f".{item}")
        else:
            parts.append(f"[{json.dumps(item, ensure_ascii=False)}]")
    return "".join(parts)
