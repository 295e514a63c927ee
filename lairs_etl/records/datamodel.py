"""What the atproto data model cannot hold, found in a record's JSON form.

The reference validator works on JSON *values*, where ``NaN``, ``Infinity`` and lone
surrogates cannot exist; Python (and a JSON Lines file written by JavaScript or
Python) can produce them, and they can never be encoded as DAG-CBOR, so such a record
could never be committed or published. :func:`data_model_diagnostics` names each one
(code ``data_model``) so ``validate`` agrees with what a commit accepts:

* a float that is not finite (``NaN``, ``±Infinity``);
* a string, or an object key, holding a lone UTF-16 surrogate (not encodable as UTF-8);
* an integer outside the data model's signed 64-bit range;
* containers nested deeper than DAG-CBOR's limit (:data:`lairs_etl.atproto.cbor.MAX_DEPTH`).

Integral floats (``5.0``) and other number forms are the lexicon check's business, as
they are the reference validator's. The fast path is the C encoder: a record that
encodes (every fetched record does) costs one encode and no walk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lairs_etl.atproto import cbor
from lairs_etl.errors import CodecError
from lairs_etl.records.diagnostic import Diagnostic, json_path

__all__ = ["CODE", "data_model_diagnostics"]

CODE = "data_model"
_INT64 = (-(1 << 63), (1 << 63) - 1)
_LIMIT = 20
"""Diagnostics reported per record at most (a record of a million NaNs needs one line)."""


def data_model_diagnostics(record: Mapping[str, object]) -> tuple[Diagnostic, ...]:
    """Every value of ``record`` that cannot be stored as DAG-CBOR, with its path (at most 20)."""
    try:
        cbor.encode_json_form(record)
    except CodecError:
        pass
    else:
        return ()
    found: list[Diagnostic] = []
    stack: list[tuple[object, tuple[int | str, ...], int]] = [(record, (), 0)]
    while stack and len(found) < _LIMIT:
        value, path, depth = stack.pop()
        problem = _problem(value)
        if problem is not None:
            found.append(Diagnostic(json_path(path), CODE, problem))
            continue
        if isinstance(value, dict | list) and depth >= cbor.MAX_DEPTH:
            found.append(Diagnostic(json_path(path), CODE, f"nested deeper than {cbor.MAX_DEPTH} levels"))
            continue
        if isinstance(value, dict):
            for key, child in reversed(list(value.items())):
                if isinstance(key, str) and _has_surrogate(key):
                    found.append(
                        Diagnostic(json_path((*path, key)), CODE, "object key holds a lone surrogate")
                    )
                stack.append((child, (*path, str(key)), depth + 1))
        elif isinstance(value, list):
            stack.extend((child, (*path, i), depth + 1) for i, child in reversed(list(enumerate(value))))
    return tuple(found[:_LIMIT])


def _problem(value: object) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a number the data model can hold"
    if isinstance(value, str):
        return "string holds a lone surrogate (not encodable as UTF-8)" if _has_surrogate(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        return "integer outside the signed 64-bit range of the data model"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
