"""The smallest valid JSON value of a record type, read off its generated model.

The seeder needs one record of every type without a hand-written table per type (the
models are the only source of truth for what a type requires), so this walks a model's
required fields and picks the simplest value each annotation accepts: a sample for a
string format, the first known value, an empty list unless a minimum length says
otherwise, and the first variant of a union (tagged with its ``$type``). Fields holding
an ``at-uri`` are filled by ``refer(field_name)``, which is how the seeder links records.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import MinLen
from pydantic import JsonValue

from lairs_etl.records import record_model
from lairs_etl.records.base import LexObject
from lairs_etl.records.lextypes import Blob, Bytes, CidLink, LexBoolean, LexInteger, LexString, Unknown

__all__ = ["FORMAT_SAMPLES", "minimal_record"]

FORMAT_SAMPLES: dict[str, str] = {
    "at-identifier": "alice.example.com",
    "at-uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/pub.layers.expression.expression/3jzfcijpj2z2a",
    "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
    "datetime": "2024-05-01T12:30:00.000Z",
    "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
    "handle": "alice.example.com",
    "language": "en",
    "nsid": "pub.layers.expression.expression",
    "record-key": "self",
    "tid": "3jzfcijpj2z2a",
    "uri": "https://example.com/a",
}
"""One valid sample per atproto string format (syntax, not lexicon content)."""

Refer = Callable[[str], str | None]
_DEPTH_LIMIT = 12


def minimal_record(
    nsid: str, *, refer: Refer | None = None, created_at: str | None = None
) -> dict[str, JsonValue]:
    """A valid record of type ``nsid`` with only its required fields.

    ``refer(field)`` answers the AT-URI an ``at-uri`` field named ``field`` should point
    at (``None``: the format sample); ``created_at`` overrides datetime fields.

    Raises:
        LexiconError: no record lexicon has that NSID.
    """
    model = record_model(nsid)
    body = _object(model, refer or (lambda _field: None), created_at, 0)
    body["$type"] = nsid
    return body


def _object(model: type[LexObject], refer: Refer, created_at: str | None, depth: int) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias == "$type" or not info.is_required():
            continue
        out[alias] = _value(info.annotation, list(info.metadata), alias, refer, created_at, depth + 1)
    return out


def _value(  # noqa: PLR0917  # private recursion carrying its context
    annotation: Any, metadata: list[Any], name: str, refer: Refer, created_at: str | None, depth: int
) -> JsonValue:
    if depth > _DEPTH_LIMIT:
        return {}
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _value(inner, [*metadata, *extra], name, refer, created_at, depth)
    if origin is Literal:
        first: JsonValue = get_args(annotation)[0]
        return first
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation), name, refer, created_at, depth)
    if origin is list:
        count = max((m.min_length for m in metadata if isinstance(m, MinLen)), default=0)
        item = get_args(annotation)[0]
        return [_value(item, [], name, refer, created_at, depth) for _ in range(count)]
    if isinstance(annotation, type) and issubclass(annotation, LexObject):
        return _object(annotation, refer, created_at, depth)
    return _leaf(annotation, metadata, name, refer, created_at)


def _union(args: tuple[Any, ...], name: str, refer: Refer, created_at: str | None, depth: int) -> JsonValue:
    for arg in args:
        model = _model_of(arg)
        if model is not None:
            value = _object(model, refer, created_at, depth)
            value["$type"] = model.LEX_ID.removesuffix("#main")
            return value
    present = [arg for arg in args if arg is not type(None)]
    return _value(present[0], [], name, refer, created_at, depth)


def _model_of(annotation: Any) -> type[LexObject] | None:
    if get_origin(annotation) is Annotated:
        return _model_of(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, LexObject):
        return annotation
    return None


def _leaf(annotation: Any, metadata: list[Any], name: str, refer: Refer, created_at: str | None) -> JsonValue:
    for marker in metadata:
        if isinstance(marker, LexString):
            return _string(marker, name, refer, created_at)
        if isinstance(marker, LexInteger):
            return _integer(marker)
        if isinstance(marker, LexBoolean):
            return bool(marker.const) if marker.const is not None else False
        if isinstance(marker, CidLink):
            return {"$link": FORMAT_SAMPLES["cid"]}
        if isinstance(marker, Bytes):
            return {"$bytes": "AAAA" * max(1, (marker.min_length or 0))}
        if isinstance(marker, Blob):
            return {
                "$type": "blob",
                "ref": {"$link": FORMAT_SAMPLES["cid"]},
                "mimeType": "text/plain",
                "size": 1,
            }
        if isinstance(marker, Unknown):
            return {}
    if annotation is bool:
        return False
    if annotation is int:
        return 0
    return "x"


def _string(marker: LexString, name: str, refer: Refer, created_at: str | None) -> str:
    if marker.format == "at-uri":
        return refer(name) or FORMAT_SAMPLES["at-uri"]
    if marker.format == "datetime" and created_at is not None:
        return created_at
    if marker.format is not None:
        return FORMAT_SAMPLES[marker.format]
    if marker.known_values:
        return marker.known_values[0]
    return "x" * max(1, marker.min_length or 0, marker.min_graphemes or 0)


def _integer(marker: LexInteger) -> int:
    if marker.const is not None:
        return marker.const
    if marker.enum:
        return marker.enum[0]
    low = marker.minimum if marker.minimum is not None else 0
    return max(low, min(0, marker.maximum if marker.maximum is not None else 0))
