"""Many records of one type into typed Arrow columns, through Arrow's C++ JSON reader.

:mod:`.codec` turns one JSON value at a time into an Arrow-ready Python value, by
recursion in Python; then ``pyarrow.array`` converts those values, by walking them
again. Both cost tens of microseconds per record of a Layers corpus. This module does
the same work in bulk and in C++:

1. the records are written as JSON Lines (msgspec);
2. ``pyarrow.json`` reads them with a *raw* schema derived from the same codec tree, the
   JSON shapes spelled out (a cid-link is ``struct<$link>``, a datetime a string, a
   ``$type`` union one struct holding every variant's properties);
3. the raw columns become the typed ones with Arrow compute, once per *type*, not per
   value (datetimes parsed, links unwrapped, union variants split by ``$type``).

The result must equal, value for value, what the codec gives (a test compares the two
on generated records of every type). So a row the bulk path cannot reproduce exactly
goes through the codec instead: a property the lexicon does not declare (the reader
infers it, which makes it visible), a datetime whose text the timestamp would not
reproduce, an unknown union member, a stray property in a union variant, an explicit
``null``. A batch the reader refuses (a float where an integer belongs) goes through
the codec whole, as does a type the raw schema cannot express (``unknown`` or
``bytes`` properties, unions whose variants disagree on a property's type).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lairs_etl.views import codec as C

__all__ = ["BulkPlan", "bulk_plan"]

_ENCODER = msgspec.json.Encoder()
_NULL_MARKS = (b":null", b"[null", b",null")
_BLOCK = 1 << 20
"""Bytes of JSON per block the reader parses on its threads (measured best of 64 KiB-4 MiB)."""
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_LINK = pa.struct([("$link", pa.string())])

Flag = Callable[[pa.Array], pa.Array]
"""Given the raw array of a node, a boolean array per *row of that node*: keep exact?"""


class _Unsupported(Exception):
    """The raw schema cannot express this codec node: the type takes the exact path."""


@dataclass(frozen=True)
class _Node:
    """One codec node compiled: its raw type and how raw values become typed ones."""

    raw: pa.DataType
    typed: Callable[[pa.Array], pa.Array]
    flags: Callable[[pa.Array], pa.Array | None]
    """Rows of this node that only the exact codec can encode (None: none can occur)."""


class BulkPlan:
    """The compiled plan of one record type (see the module docstring)."""

    def __init__(self, codec: C.StructCodec) -> None:
        self.codec = codec
        try:
            self._root: _Node | None = _compile(codec)
        except _Unsupported:
            self._root = None

    @property
    def supported(self) -> bool:
        """Whether the bulk path applies to this type at all."""
        return self._root is not None

    def encode(self, values: Sequence[Mapping[str, Any]]) -> tuple[pa.StructArray, list[int]]:
        """The typed struct array of ``values``, and the positions the exact codec must redo.

        The returned array holds, at the listed positions, whatever the bulk path made
        of those values: the caller replaces them.
        """
        root = self._root
        if root is None or not values:
            return _empty(self.codec.arrow, len(values)), list(range(len(values)))
        lines = [_ENCODER.encode(v) for v in values]
        body = b"\n".join(lines)
        exact = []
        if b"null" in body:  # rare: look line by line only then
            exact = [i for i, line in enumerate(lines) if any(mark in line for mark in _NULL_MARKS)]
        block = max(_BLOCK, 2 * max(len(line) for line in lines) + 2)
        schema = pa.schema(list(root.raw))
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        try:
            table = pj.read_json(
                io.BytesIO(body), read_options=pj.ReadOptions(block_size=block), parse_options=options
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _empty(self.codec.arrow, len(values)), list(range(len(values)))
        raw = pa.StructArray.from_arrays(
            [table.column(i).combine_chunks() for i in range(table.num_columns)], names=table.column_names
        )
        projected = _project(raw, root.raw)
        flagged = _extra_rows(root.raw, raw)
        own = root.flags(projected)
        if own is not None:
            flagged = own if flagged is None else pc.or_(flagged, own)
        if flagged is not None:
            exact.extend(pc.indices_nonzero(pc.fill_null(flagged, True)).to_pylist())
        typed = root.typed(projected)
        return typed, sorted(set(exact))


@cache
def bulk_plan(codec: C.StructCodec) -> BulkPlan:
    """The plan of a record type's codec (cached: codecs are cached per type)."""
    return BulkPlan(codec)


# -- compiling codec nodes ---------------------------------------------------------------


def _compile(codec: C.Codec) -> _Node:
    if isinstance(codec, C.StructCodec):
        return _struct(codec)
    if isinstance(codec, C.ListCodec):
        return _list(codec)
    if isinstance(codec, C.UnionCodec):
        return _union(codec)
    if isinstance(codec, C.DatetimeCodec):
        return _Node(pa.string(), _datetimes, _noncanonical_datetimes)
    if isinstance(codec, C.CidLinkCodec):
        return _Node(_LINK, lambda a: pc.struct_field(a, [0]), lambda a: None)
    if isinstance(codec, C.BlobCodec):
        return _blob()
    if isinstance(codec, C.ScalarCodec):
        return _Node(codec.arrow, lambda a: a, lambda a: None)
    raise _Unsupported(type(codec).__name__)  # unknown (JSON text), bytes


def _struct(codec: C.StructCodec) -> _Node:
    nodes = {name: _compile(child) for name, child in codec.fields.items()}
    raw = pa.struct([(name, node.raw) for name, node in nodes.items()])
    names = list(nodes)

    def typed(array: pa.Array) -> pa.Array:
        children = [nodes[name].typed(pc.struct_field(array, [i])) for i, name in enumerate(names)]
        return pa.StructArray.from_arrays(children, fields=list(codec.arrow), mask=array.is_null())

    def flags(array: pa.Array) -> pa.Array | None:
        found: pa.Array | None = None
        for i, name in enumerate(names):
            child = nodes[name].flags(pc.struct_field(array, [i]))
            if child is not None:
                found = child if found is None else pc.or_kleene(found, child)
        return None if found is None else pc.fill_null(found, False)

    return _Node(raw, typed, flags)


def _list(codec: C.ListCodec) -> _Node:
    item = _compile(codec.item)

    def typed(array: pa.Array) -> pa.Array:
        array = _unsliced(array)
        values = item.typed(array.values)
        return pa.ListArray.from_arrays(array.offsets, values, type=codec.arrow, mask=array.is_null())

    def flags(array: pa.Array) -> pa.Array | None:
        array = _unsliced(array)
        child = item.flags(array.values)
        if child is None:
            return None
        return _any_per_list(array, child)

    return _Node(pa.list_(item.raw), typed, flags)


def _union(codec: C.UnionCodec) -> _Node:
    variants = [(name, ref, _struct(struct)) for name, ref, struct in codec.variants]
    merged: dict[str, pa.DataType] = {"$type": pa.string()}
    owners: dict[str, set[str]] = {}
    seen: set[str] = set()
    unique = []
    for name, ref, node in variants:
        if name in seen:
            continue
        seen.add(name)
        unique.append((name, ref, node))
        for field in node.raw:
            if merged.setdefault(field.name, field.type) != field.type:
                raise _Unsupported(f"union variants disagree on {field.name}")
            owners.setdefault(field.name, set()).add(name)
    spellings = {name: _spellings(ref) for name, ref, _ in unique}
    raw = pa.struct(list(merged.items()))
    fields = list(merged)

    def member(array: pa.Array, name: str) -> pa.Array:
        kind = pc.struct_field(array, [0])
        return pc.fill_null(pc.is_in(kind, value_set=pa.array(sorted(spellings[name]))), False)

    def variant_raw(array: pa.Array, node: _Node) -> pa.Array:
        return pa.StructArray.from_arrays(
            [pc.struct_field(array, [fields.index(f.name)]) for f in node.raw], fields=list(node.raw)
        )

    def typed(array: pa.Array) -> pa.Array:
        children = [pc.struct_field(array, [0])]
        for name, _, node in unique:
            inside = member(array, name)
            value = node.typed(variant_raw(array, node))
            children.append(pc.if_else(inside, value, pa.nulls(len(array), value.type)))
        children.append(pa.nulls(len(array), pa.string()))
        return pa.StructArray.from_arrays(children, fields=list(codec.arrow), mask=array.is_null())

    def flags(array: pa.Array) -> pa.Array | None:
        present = array.is_valid()
        known = pa.array([False] * len(array), pa.bool_())
        found: pa.Array | None = None
        for name, _, node in unique:
            inside = member(array, name)
            known = pc.or_(known, inside)
            for i, field in enumerate(fields[1:], start=1):
                if name not in owners[field]:  # another variant's property set in this one
                    stray = pc.and_(inside, pc.struct_field(array, [i]).is_valid())
                    found = stray if found is None else pc.or_(found, stray)
            own = node.flags(variant_raw(array, node))
            if own is not None:
                own = pc.and_(inside, own)
                found = own if found is None else pc.or_(found, own)
        unknown = pc.and_(present, pc.invert(known))  # an open union's foreign member, or worse
        return unknown if found is None else pc.or_(found, unknown)

    return _Node(raw, typed, flags)


def _spellings(ref: str) -> set[str]:
    """Every ``$type`` that names ``ref``, as the union's discriminator accepts them."""
    bare = ref.removeprefix("lex:")
    names = {bare}
    if bare.endswith("#main"):
        names.add(bare.removesuffix("#main"))
    elif "#" not in bare:
        names.add(f"{bare}#main")
    return names | {f"lex:{name}" for name in names}


def _blob() -> _Node:
    raw = pa.struct([("$type", pa.string()), ("ref", _LINK), ("mimeType", pa.string()), ("size", pa.int64())])
    typed_type = C.BlobCodec.arrow

    def typed(array: pa.Array) -> pa.Array:
        children = [
            pc.struct_field(array, [0]),
            pc.struct_field(array, [1, 0]),
            pc.struct_field(array, [2]),
            pc.struct_field(array, [3]),
        ]
        return pa.StructArray.from_arrays(children, fields=list(typed_type), mask=array.is_null())

    def flags(array: pa.Array) -> pa.Array | None:
        # The codec keeps a blob typed only in its exact modern form: all four keys, a
        # "blob" $type, a ref that is a link. Anything else stays exact (residual).
        incomplete = pc.or_(
            pc.or_(pc.struct_field(array, [0]).is_null(), pc.struct_field(array, [1, 0]).is_null()),
            pc.or_(pc.struct_field(array, [2]).is_null(), pc.struct_field(array, [3]).is_null()),
        )
        wrong = pc.not_equal(pc.struct_field(array, [0]), "blob")
        return pc.fill_null(pc.and_kleene(array.is_valid(), pc.or_kleene(incomplete, wrong)), True)

    return _Node(raw, typed, flags)


def _parsed(array: pa.Array) -> pa.Array | None:
    """Datetime strings as UTC microseconds, or None when Arrow cannot parse them all.

    Microseconds first (any year); text with nanoseconds parses only through Arrow's
    nanosecond type (years 1677-2262), truncated: its text then differs, so it is flagged.
    """
    try:
        return pc.cast(array, _TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return pc.cast(pc.cast(array, pa.timestamp("ns", tz="UTC")), _TIMESTAMP, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _datetimes(array: pa.Array) -> pa.Array:
    stamps = _parsed(array)
    return pa.nulls(len(array), _TIMESTAMP) if stamps is None else stamps  # unparsed rows are flagged


def _noncanonical_datetimes(array: pa.Array) -> pa.Array | None:
    """Datetimes whose text the timestamp would not give back (the codec keeps the text).

    The text given back is :func:`~lairs_etl.views.codec.render_datetime`'s: JavaScript's
    ``toISOString`` shape, milliseconds when they are exact, else microseconds.
    """
    stamps = _parsed(array)
    if stamps is None:
        return array.is_valid()  # text Arrow cannot parse at all: every row of it goes exact
    micros = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S")  # seconds with 6 decimals (unit "us")
    rendered = pc.if_else(
        _whole_milliseconds(stamps),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(micros, 0, 23), "Z", ""),
        pc.binary_join_element_wise(micros, "Z", ""),
    )
    return pc.fill_null(pc.and_kleene(array.is_valid(), pc.not_equal(rendered, array)), True)


def _whole_milliseconds(stamps: pa.Array) -> pa.Array:
    micros = pc.cast(stamps, pa.int64())
    return pc.equal(pc.subtract(micros, pc.multiply(pc.divide(micros, 1000), 1000)), 0)


# -- helpers ------------------------------------------------------------------------------


def _unsliced(array: pa.Array) -> pa.ListArray:
    """A list array whose offsets start at its values' start (``values`` then line up)."""
    if array.offset == 0 and array.offsets[0].as_py() == 0:
        return array
    return pa.concat_arrays([array])  # a copy rebases offsets and values


def _any_per_list(lists: pa.ListArray, child: pa.Array) -> pa.Array:
    """Per list, whether any of its items is flagged (nulls and empty lists: False)."""
    if len(child) == 0:
        return pa.array([False] * len(lists), pa.bool_())
    parents = pc.list_parent_indices(lists)
    hits = pc.filter(parents, pc.fill_null(child, False))
    out = [False] * len(lists)
    for index in hits.to_pylist():
        out[index] = True
    return pa.array(out, pa.bool_())


def _extra_rows(expected: pa.DataType, array: pa.Array) -> pa.Array | None:
    """Rows holding a property the raw type does not declare (the reader inferred it)."""
    if pa.types.is_struct(array.type):
        known = {f.name: f.type for f in expected} if pa.types.is_struct(expected) else {}
        found: pa.Array | None = None
        for i, field in enumerate(array.type):
            child = pc.struct_field(array, [i])
            rows = child.is_valid() if field.name not in known else _extra_rows(known[field.name], child)
            if rows is not None:
                found = rows if found is None else pc.or_(found, rows)
        return found
    if pa.types.is_list(array.type) and pa.types.is_list(expected):
        array = _unsliced(array)
        child = _extra_rows(expected.value_type, array.values)
        return None if child is None else _any_per_list(array, child)
    return None


def _project(array: pa.Array, expected: pa.DataType) -> pa.Array:
    """``array`` with the inferred (undeclared) fields dropped, at every depth."""
    if pa.types.is_struct(expected):
        children = []
        for field in expected:
            index = array.type.get_field_index(field.name)
            children.append(_project(pc.struct_field(array, [index]), field.type))
        return pa.StructArray.from_arrays(children, fields=list(expected), mask=array.is_null())
    if pa.types.is_list(expected):
        array = _unsliced(array)
        values = _project(array.values, expected.value_type)
        return pa.ListArray.from_arrays(array.offsets, values, type=expected, mask=array.is_null())
    return array


def _empty(kind: pa.DataType, rows: int) -> pa.StructArray:
    return pa.nulls(rows, kind)
