"""JSON values ⇄ Arrow values, one codec node per lexicon type, derived from the models.

:func:`model_codec` walks a generated model the way :mod:`lairs_etl.records.introspect`
does and returns a tree of codecs: objects become structs, arrays lists, ``datetime``
strings UTC timestamps, ``cid-link`` strings, ``bytes`` binary, blobs a small struct and
a ``$type`` union a struct holding ``$type``, one struct per variant and ``_unknown``
(an open union's foreign member, as JSON text). ``unknown`` values, and a def that
contains itself, are JSON text.

Nothing is dropped: where a value does not fit its typed slot (a property the lexicon
does not declare, an array where the reference tolerates it for an object, a datetime
whose text the timestamp would not reproduce), :meth:`Codec.encode` leaves the typed
slot null and appends ``(path, value)`` to the *residual*, which
:func:`~lairs_etl.views.table.table_to_values` replays on decode.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import types
from collections.abc import Callable, Hashable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pyarrow as pa
from pydantic import Discriminator, JsonValue, Tag

from lairs_etl.records.base import LexObject
from lairs_etl.records.lextypes import OPEN_UNION_TAG, Blob, Bytes, CidLink, LexString

__all__ = [
    "MISSING",
    "BlobCodec",
    "BytesCodec",
    "CidLinkCodec",
    "Codec",
    "DatetimeCodec",
    "JsonCodec",
    "JsonPath",
    "ListCodec",
    "Residual",
    "ScalarCodec",
    "StructCodec",
    "UnionCodec",
    "dumps_json",
    "model_codec",
    "path_keys",
]

#: Where a value sits, as a linked list ``(parent, key)`` from the root ``()``: building it
#: costs one small tuple per node, and only residual values ever need it spelled out.
JsonPath = tuple[Any, ...]
Residual = list[tuple[JsonPath, JsonValue]]


def path_keys(path: JsonPath) -> list[str | int]:
    """The keys of a linked path, root first."""
    keys: list[str | int] = []
    while path:
        path, key = path
        keys.append(key)
    keys.reverse()
    return keys


class _Missing:
    """An absent property (Arrow null): lexicon properties may be absent, never null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_INT64 = (-(2**63), 2**63 - 1)


def dumps_json(value: object) -> str:
    """Canonical JSON text (sorted keys, no spaces) so equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Codec:
    """One lexicon type: its Arrow type, and the conversions both ways.

    ``encode`` returns the Python value ``pyarrow.array`` takes for ``arrow`` (``None``
    for an absent or unfitting value, which it then records in ``residual``);
    ``decode`` returns the JSON value, or :data:`MISSING` for a null.
    """

    arrow: pa.DataType

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """The Arrow-ready value of ``value`` found at ``path`` (``None`` when it goes residual)."""
        raise NotImplementedError

    def decode(self, value: Any) -> Any:
        """The JSON value of an Arrow value read back, :data:`MISSING` for null."""
        return MISSING if value is None else value


class ScalarCodec(Codec):
    """A string, boolean or 64-bit integer, taken as it is when its Python type is exact."""

    def __init__(self, arrow: pa.DataType, kind: type) -> None:
        self.arrow, self.kind = arrow, kind

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if type(value) is self.kind and (type(value) is not int or _INT64[0] <= value <= _INT64[1]):
            return value
        residual.append((path, value))
        return None


class JsonCodec(Codec):
    """An ``unknown`` value, or one Arrow cannot type (a def containing itself): JSON text."""

    arrow = pa.string()

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        return dumps_json(value)

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        return MISSING if value is None else json.loads(value)


class DatetimeCodec(Codec):
    """UTC microseconds; the text is also kept when the timestamp would not reproduce it."""

    arrow = pa.timestamp("us", tz="UTC")

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if not isinstance(value, str):
            residual.append((path, value))
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            residual.append((path, value))
            return None
        stamp = parsed.astimezone(dt.UTC)
        if render_datetime(stamp) != value:
            residual.append((path, value))
        return stamp

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        return MISSING if value is None else render_datetime(value)


def render_datetime(stamp: dt.datetime) -> str:
    """The text a timestamp decodes to: JavaScript's ``toISOString`` shape when exact."""
    spec = "milliseconds" if stamp.microsecond % 1000 == 0 else "microseconds"
    return stamp.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"


class CidLinkCodec(Codec):
    """A ``cid-link``: the ``$link`` string."""

    arrow = pa.string()

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$link"), str):
            return value["$link"]
        residual.append((path, value))
        return None

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        return MISSING if value is None else {"$link": value}


class BytesCodec(Codec):
    """Raw bytes; text that is not canonical unpadded base64 is also kept as written."""

    arrow = pa.binary()

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        text = value.get("$bytes") if isinstance(value, dict) and len(value) == 1 else None
        raw: bytes | None = None
        if isinstance(text, str):
            try:
                url_safe = "-" in text or "_" in text
                raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if url_safe else None)
            except (binascii.Error, ValueError):
                raw = None
        if raw is None or _b64(raw) != text:
            residual.append((path, value))
        return raw

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        return MISSING if value is None else {"$bytes": _b64(value)}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


class BlobCodec(Codec):
    """A typed blob ref as ``{$type, ref, mimeType, size}``; the legacy form stays residual."""

    arrow = pa.struct(
        [("$type", pa.string()), ("ref", pa.string()), ("mimeType", pa.string()), ("size", pa.int64())]
    )
    _KEYS = frozenset(("$type", "ref", "mimeType", "size"))

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if isinstance(value, dict) and value.keys() == self._KEYS:
            ref, size = value["ref"], value["size"]
            if (
                value["$type"] == "blob"
                and isinstance(value["mimeType"], str)
                and type(size) is int
                and isinstance(ref, dict)
                and ref.keys() == {"$link"}
            ):
                return {"$type": "blob", "ref": ref["$link"], "mimeType": value["mimeType"], "size": size}
        residual.append((path, value))
        return None

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        if value is None:
            return MISSING
        return {
            "$type": value["$type"],
            "ref": {"$link": value["ref"]},
            "mimeType": value["mimeType"],
            "size": value["size"],
        }


class ListCodec(Codec):
    """An array of one item type."""

    def __init__(self, item: Codec) -> None:
        self.item, self.arrow = item, pa.list_(item.arrow)

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if not isinstance(value, list):
            residual.append((path, value))
            return None
        item = self.item
        kind = item.kind if isinstance(item, ScalarCodec) else None
        if kind is not None and kind is not int and all(type(v) is kind for v in value):
            return value  # strings or booleans: Arrow takes the list as it is
        return [item.encode(v, (path, i), residual) for i, v in enumerate(value)]

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        if value is None:
            return MISSING
        item = self.item
        return [None if (d := item.decode(v)) is MISSING else d for v in value]


class StructCodec(Codec):
    """A lexicon object: one field per declared property; undeclared ones go residual.

    Arrow null means absent; an explicit JSON ``null`` (``nullable`` properties) is
    residual so it comes back as ``null``, not as a missing key.
    """

    def __init__(self, fields: Sequence[tuple[str, Codec]]) -> None:
        self.fields = dict(fields)
        self.arrow = pa.struct([(name, codec.arrow) for name, codec in fields])
        # Objects of scalars only (spans, uuids, boxes: most nodes of a corpus) pass to
        # Arrow as they are once their keys and types are checked: no copy, no calls.
        scalars = all(isinstance(codec, ScalarCodec) for codec in self.fields.values())
        self._kinds = (
            {n: c.kind for n, c in self.fields.items() if isinstance(c, ScalarCodec)} if scalars else None
        )

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        if not isinstance(value, dict):
            residual.append((path, value))
            return None
        kinds = self._kinds
        if kinds is not None and all(
            type(item) is kinds.get(key) and (type(item) is not int or _INT64[0] <= item <= _INT64[1])
            for key, item in value.items()
        ):
            return value
        fields = self.fields
        out = {}  # Arrow reads a missing key as null: no need to spell the absent ones
        for key, item in value.items():
            codec = fields.get(key)
            if codec is None or item is None:  # undeclared, or a ``nullable`` property's null
                residual.append(((path, key), item))
            else:
                out[key] = codec.encode(item, (path, key), residual)
        return out

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        if value is None:
            return MISSING
        out: dict[str, Any] = {}
        for name, codec in self.fields.items():
            decoded = codec.decode(value[name])
            if decoded is not MISSING:
                out[name] = decoded
        return out


class UnionCodec(Codec):
    """``$type``-tagged union: ``{"$type", <variant>: struct…, "_unknown": json}``."""

    def __init__(
        self, variants: Sequence[tuple[str, str, StructCodec]], tag: Callable[[Any], Hashable]
    ) -> None:
        self.variants = tuple(variants)
        """``(column name, lexicon ref, codec)`` of each known member."""
        self._by_tag = {ref: (name, codec) for name, ref, codec in variants}
        self._tag = tag
        self._names = [name for name, _, _ in variants]
        self._codecs = {name: codec for name, _, codec in variants}
        fields = [("$type", pa.string()), *[(n, c.arrow) for n, _, c in variants], ("_unknown", pa.string())]
        self.arrow = pa.struct(fields)

    def encode(self, value: Any, path: JsonPath, residual: Residual) -> Any:
        """See :meth:`Codec.encode`."""
        tag = self._tag(value) if isinstance(value, dict) else None
        found = self._by_tag.get(tag) if isinstance(tag, str) else None
        out: dict[str, Any] = dict.fromkeys(("$type", *self._names, "_unknown"))
        if found is not None:
            name, codec = found
            out["$type"] = value["$type"]
            body = {k: v for k, v in value.items() if k != "$type"}
            out[name] = codec.encode(body, path, residual)
        elif tag == OPEN_UNION_TAG:
            out["$type"], out["_unknown"] = value["$type"], dumps_json(value)
        else:
            residual.append((path, value))
            return None
        return out

    def decode(self, value: Any) -> Any:
        """See :meth:`Codec.decode`."""
        if value is None:
            return MISSING
        if value["_unknown"] is not None:
            return json.loads(value["_unknown"])
        for name in self._names:
            if value[name] is not None:
                return {"$type": value["$type"], **self._codecs[name].decode(value[name])}
        return MISSING


def model_codec(model: type[LexObject]) -> StructCodec:
    """The codec of a model's objects (fields by lexicon name, ``$type`` included)."""
    return _struct(model, frozenset())


def _struct(model: type[LexObject], seen: frozenset[type]) -> StructCodec:
    if not model.__pydantic_complete__:
        model.model_rebuild()
    inner = seen | {model}
    fields = [
        (info.alias or name, _codec(info.annotation, list(info.metadata), inner))
        for name, info in model.model_fields.items()
    ]
    return StructCodec(fields)


def _codec(annotation: Any, metadata: list[Any], seen: frozenset[type]) -> Codec:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _codec(inner, [*metadata, *extra], seen)
    discriminator = next((m for m in metadata if isinstance(m, Discriminator)), None)
    if origin in (Union, types.UnionType):
        if discriminator is not None and callable(discriminator.discriminator):
            return _union(get_args(annotation), discriminator.discriminator, seen)
        return JsonCodec()
    if origin is list:
        return ListCodec(_codec(get_args(annotation)[0], [], seen))
    if origin is Literal:
        kinds = {type(arg) for arg in get_args(annotation)}
        return _scalar(kinds.pop()) if len(kinds) == 1 else JsonCodec()
    if isinstance(annotation, type) and issubclass(annotation, LexObject):
        if annotation in seen:
            return JsonCodec()  # a def containing itself: its depth is unbounded, Arrow's is not
        struct = _struct(annotation, seen)
        return struct if struct.fields else JsonCodec()
    if any(isinstance(m, Blob) for m in metadata):
        return BlobCodec()
    if any(isinstance(m, CidLink) for m in metadata):
        return CidLinkCodec()
    if any(isinstance(m, Bytes) for m in metadata):
        return BytesCodec()
    if annotation is str and any(isinstance(m, LexString) and m.format == "datetime" for m in metadata):
        return DatetimeCodec()
    return _scalar(annotation)


def _scalar(kind: Any) -> Codec:
    arrow = {str: pa.string(), bool: pa.bool_(), int: pa.int64()}.get(kind)
    return JsonCodec() if arrow is None else ScalarCodec(arrow, kind)


def _union(args: tuple[Any, ...], tag: Callable[[Any], Hashable], seen: frozenset[type]) -> Codec:
    variants: list[tuple[str, str, StructCodec]] = []
    taken: set[str] = set()
    for arg in args:
        inner, *meta = get_args(arg) if get_origin(arg) is Annotated else (arg,)
        ref = next((m.tag for m in meta if isinstance(m, Tag)), None)
        is_model = isinstance(inner, type) and issubclass(inner, LexObject)
        if ref is None or ref == OPEN_UNION_TAG or not is_model:
            continue
        codec = _struct(inner, seen) if inner not in seen else None
        if codec is None or not codec.fields:
            return JsonCodec()
        name = _variant_name(ref, taken)
        taken.add(name)
        variants.append((name, ref, codec))
    return UnionCodec(variants, tag)


def _variant_name(ref: str, taken: set[str]) -> str:
    bare = ref.removeprefix("lex:").removesuffix("#main")
    name = bare.rpartition("#")[2] if "#" in bare else bare.rpartition(".")[2]
    while name in taken or name in ("$type", "_unknown"):
        name = f"{name}_"
    return name
