"""A valid JSON value of a record type, read off its generated model: minimal or filled.

The seeder needs records of every type without a hand-written table per type (the
models are the only source of truth for what a type holds), so this walks a model's
fields and picks a simple value each annotation accepts: a sample for a string format,
a known value, an integer within its bounds, and a variant of a union (tagged with its
``$type``). Fields holding an ``at-uri`` are filled by ``refer(field_name)``, which is
how the seeder links records.

``fill=0`` gives the required fields only (lists as short as their minimum allows).
``fill=n`` gives lists ``n`` items and sets optional properties ``n`` levels below
the record, so annotation layers hold annotations and segmentations tokens. Deeper
than two levels, objects keep their required properties and lists one item, since
nested lists multiply a record's size (``fill=3``: a few KB).
Some optional properties are left out to keep records plausible and writable:

- an object whose properties are all optional (an anchor, an object reference) is a
  choice in practice: it gets one of them;
- a ``<name>Uri`` beside a ``<name>`` of known values names a custom vocabulary entry,
  which only means something when ``<name>`` says ``custom``;
- a blob, since a PDS refuses a record naming a blob it does not hold.

Strings are ``<field>-<position>``, integers their list position (within bounds), and
``variant`` rotates every choice (known values, union variants, alternatives), so
records seeded with different variants differ.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import MaxLen, MinLen
from pydantic import JsonValue
from pydantic.fields import FieldInfo

from lairs_etl.errors import ConfigError
from lairs_etl.records import record_model
from lairs_etl.records.base import LexObject, LexRecord
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
_RICH_DEPTH = 3  # from this depth on: required properties, one list item (see above)
_OMIT = None  # never a valid property value (lexicons have no null), so it marks "leave out"


@dataclass(frozen=True, slots=True)
class _Plan:
    refer: Refer
    created_at: str | None
    fill: int
    variant: int


def minimal_record(
    nsid: str,
    *,
    refer: Refer | None = None,
    created_at: str | None = None,
    fill: int = 0,
    variant: int = 0,
) -> dict[str, JsonValue]:
    """A valid record of type ``nsid``: its required fields, and with ``fill`` more.

    ``refer(field)`` answers the AT-URI an ``at-uri`` field named ``field`` should point
    at; ``None`` gives the format sample to a required field and leaves an optional one
    out. ``created_at`` overrides datetime fields. ``fill`` (≥ 0) is how many items
    lists get and how deep optional properties are set; ``variant`` rotates the choices
    (see the module docstring).

    Raises:
        LexiconError: no record lexicon has that NSID.
        ConfigError: ``fill`` is negative.
    """
    if fill < 0:
        raise ConfigError(f"fill must be >= 0, not {fill}")
    model = record_model(nsid)
    plan = _Plan(refer or (lambda _field: None), created_at, fill, variant)
    body = _object(model, plan, 0, 0)
    body["$type"] = nsid
    return body


def _object(model: type[LexObject], plan: _Plan, depth: int, index: int) -> dict[str, JsonValue]:
    fields = {
        info.alias or name: info
        for name, info in model.model_fields.items()
        if (info.alias or name) != "$type" and (info.is_required() or not _is_blob(info.metadata))
    }
    fields = {alias: info for alias, info in fields.items() if not _is_escape(alias, info, fields)}
    optional = [alias for alias, info in fields.items() if not info.is_required()]
    wanted = [alias for alias, info in fields.items() if info.is_required()]
    alternatives = len(optional) == len(fields) and not issubclass(model, LexRecord)
    if optional and plan.fill > depth and (alternatives or depth < _RICH_DEPTH):
        start = (plan.variant + index) % len(optional)
        wanted += optional[start:] + optional[:start] if alternatives else optional
    out: dict[str, JsonValue] = {}
    for alias in wanted:
        info, required = fields[alias], fields[alias].is_required()
        value = _value(info.annotation, list(info.metadata), alias, plan, depth + 1, index, required)
        if value is not _OMIT:
            out[alias] = value
            if alternatives:  # the first alternative that has a value
                break
    return {alias: out[alias] for alias in fields if alias in out}


def _value(  # noqa: PLR0917  # private recursion carrying its context
    annotation: Any, metadata: list[Any], name: str, plan: _Plan, depth: int, index: int, required: bool
) -> JsonValue:
    if depth > _DEPTH_LIMIT:
        return {}
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _value(inner, [*metadata, *extra], name, plan, depth, index, required)
    if origin is Literal:
        first: JsonValue = get_args(annotation)[0]
        return first
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation), name, plan, depth, index)
    if origin is list:
        return _list(get_args(annotation)[0], metadata, name, plan, depth)
    if isinstance(annotation, type) and issubclass(annotation, LexObject):
        return _object(annotation, plan, depth, index)
    return _leaf(annotation, metadata, name, plan, index, required)


def _list(item: Any, metadata: list[Any], name: str, plan: _Plan, depth: int) -> JsonValue:
    low = max((m.min_length for m in metadata if isinstance(m, MinLen)), default=0)
    high = min((m.max_length for m in metadata if isinstance(m, MaxLen)), default=None)
    wanted = plan.fill if depth < _RICH_DEPTH else min(plan.fill, 1)
    count = max(low, wanted) if high is None else min(max(low, wanted), high)
    values = [_value(item, [], name, plan, depth, i, i < low) for i in range(count)]
    return [v for v in values if v is not _OMIT]


def _union(args: tuple[Any, ...], name: str, plan: _Plan, depth: int, index: int) -> JsonValue:
    models = [model for model in map(_model_of, args) if model is not None]
    if models:
        model = models[(plan.variant + index) % len(models) if plan.fill else 0]
        value = _object(model, plan, depth, index)
        value["$type"] = model.LEX_ID.removesuffix("#main")
        return value
    present = [arg for arg in args if arg is not type(None)]
    return _value(present[0], [], name, plan, depth, index, True)


def _model_of(annotation: Any) -> type[LexObject] | None:
    if get_origin(annotation) is Annotated:
        return _model_of(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, LexObject):
        return annotation
    return None


def _is_blob(metadata: list[Any]) -> bool:
    return any(isinstance(marker, Blob) for marker in metadata)


def _is_escape(alias: str, info: FieldInfo, fields: Mapping[str, FieldInfo]) -> bool:
    """An optional ``<name>Uri`` beside a ``<name>`` of known values: used for "custom" only."""
    sibling = fields.get(alias.removesuffix("Uri")) if alias.endswith("Uri") else None
    return (
        not info.is_required()
        and sibling is not None
        and any(isinstance(m, LexString) and m.known_values for m in sibling.metadata)
    )


def _leaf(  # noqa: PLR0917  # private, one step of _value
    annotation: Any, metadata: list[Any], name: str, plan: _Plan, index: int, required: bool
) -> JsonValue:
    for marker in metadata:
        if isinstance(marker, LexString):
            return _string(marker, name, plan, index, required)
        if isinstance(marker, LexInteger):
            return _integer(marker, index)
        if isinstance(marker, LexBoolean):
            return bool(marker.const) if marker.const is not None else index % 2 == 1
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
        return index
    return "x"


def _string(marker: LexString, name: str, plan: _Plan, index: int, required: bool) -> JsonValue:
    if marker.format == "at-uri":
        target = plan.refer(name)
        return target if target is not None or not required else FORMAT_SAMPLES["at-uri"]
    if marker.format == "datetime" and plan.created_at is not None:
        return plan.created_at
    if marker.format is not None:
        return FORMAT_SAMPLES[marker.format]
    if marker.known_values:
        pick = (plan.variant + index) % len(marker.known_values) if plan.fill else 0
        return marker.known_values[pick]
    low = max(1, marker.min_length or 0, marker.min_graphemes or 0)
    if not plan.fill:
        return "x" * low
    high = min(n for n in (marker.max_length, marker.max_graphemes, 64) if n is not None)
    return f"{name}-{index}"[:high].ljust(low, "x")


def _integer(marker: LexInteger, index: int) -> int:
    if marker.const is not None:
        return marker.const
    if marker.enum:
        return marker.enum[index % len(marker.enum)]
    value = (marker.minimum if marker.minimum is not None else 0) + index
    if marker.maximum is not None:
        value = min(value, marker.maximum)
    return value
