"""JSON from peers and users, decoded within explicit limits: the one door for untrusted JSON.

Every JSON body a server sends (XRPC answers, DID documents, error bodies) and every
JSON file a user hands to ``lairs-etl validate`` is decoded here, so the limits and the
errors are the same everywhere:

* **size**: at most ``max_bytes`` bytes, or characters for ``str`` input (the caller's
  budget: a DID document is small, a ``listRecords`` page larger); strings and numbers
  are bounded by it too;
* **depth**: at most ``max_depth`` nested arrays and objects (default
  :data:`MAX_DEPTH`, twice the DAG-CBOR limit, since the JSON form spends a level on
  every ``$link`` and ``$bytes``);
* **integers**: exact, of up to 4,299 digits (CPython's conversion limit, sign included);
  whether an integer fits a record's 64 bits is the data model's question
  (:mod:`lairs_etl.records.datamodel`), not the parser's.

Anything else raises :class:`~lairs_etl.errors.CodecError`: never ``RecursionError``,
``ValueError`` or ``JSONDecodeError``. The decoder is msgspec's (C, strict RFC 8259:
no ``NaN``/``Infinity`` tokens, no lone surrogates, valid UTF-8 only), which also keeps
nesting past about a thousand levels from reaching the C stack.

:func:`decode_lenient` additionally reads the ``NaN``/``Infinity`` tokens and lone
surrogate escapes that JavaScript and Python write, for ``validate``: such a record is
reported invalid with a diagnostic (it can never be stored as DAG-CBOR) rather than
making the whole file unusable.
"""

from __future__ import annotations

import json
from typing import TypeAlias

import msgspec

from lairs_etl.errors import CodecError

__all__ = ["MAX_DEPTH", "JsonValue", "decode", "decode_lenient"]

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
"""A decoded JSON value as the sender wrote it (validate before trusting its shape)."""

MAX_DEPTH = 128
"""Deepest nesting of arrays and objects accepted by default."""

_DECODER = msgspec.json.Decoder()
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError, MemoryError, UnicodeDecodeError)


def decode(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> JsonValue:
    """Strict JSON, within the limits.

    Raises:
        CodecError: not JSON, larger than ``max_bytes``, or nested deeper than ``max_depth``.
    """
    _check_size(data, max_bytes)
    try:
        value: JsonValue = _DECODER.decode(data)
    except _DECODE_ERRORS as exc:
        raise CodecError(f"not valid JSON: {_reason(exc)}") from exc
    _check_depth(data, value, max_depth)
    return value


def decode_lenient(
    data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH
) -> JsonValue:
    """Like :func:`decode`, also reading ``NaN``, ``Infinity``, ``-Infinity`` and lone surrogates.

    Those become ``float('nan')``, ``±inf`` and ``str`` values holding the surrogate,
    for the data-model check to report.

    Raises:
        CodecError: not JSON even so, larger than ``max_bytes``, or too deep.
    """
    _check_size(data, max_bytes)
    try:
        value: JsonValue = _DECODER.decode(data)
    except _DECODE_ERRORS:
        try:
            # The standard library reads the JavaScript extensions; its C scanner raises
            # RecursionError (caught) long before the C stack is at risk.
            value = json.loads(data, parse_constant=float)
        except _DECODE_ERRORS as exc:
            raise CodecError(f"not valid JSON: {_reason(exc)}") from exc
    _check_depth(data, value, max_depth)
    return value


def _check_size(data: bytes | str, max_bytes: int | None) -> None:
    if max_bytes is not None and len(data) > max_bytes:
        raise CodecError(f"JSON of {len(data)} bytes exceeds the {max_bytes}-byte limit")


def _check_depth(data: bytes | str, value: object, max_depth: int) -> None:
    """Walk ``value`` level by level, unless ``data`` has too few brackets to be too deep."""
    if isinstance(data, bytes):
        openers = data.count(b"[") + data.count(b"{")
    else:
        openers = data.count("[") + data.count("{")
    if openers <= max_depth:
        return
    level: list[dict[str, object] | list[object]] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise CodecError(f"JSON nested deeper than {max_depth} levels")
        deeper: list[dict[str, object] | list[object]] = []
        push = deeper.append
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    push(child)
        level = deeper


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large to hold"
    return str(exc)[:200] or type(exc).__name__
