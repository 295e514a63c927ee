"""Walk a model's fields as the lexicon declares them, for layers that derive from models.

Views derive Arrow schemas and publish finds the references between records (``at-uri``
strings) from the generated models, not from the lexicon files: :func:`lex_fields`
yields every leaf field (a :class:`LexField`: JSON path pattern with ``[*]`` for array
items, Python type, lexicon markers such as ``LexString``, ``LexInteger``, ``Blob``),
following refs, union variants and arrays; :func:`format_paths` picks the strings of one
format.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from lairs_etl.records.base import LexObject
from lairs_etl.records.diagnostic import json_path
from lairs_etl.records.lextypes import LexString

__all__ = ["LexField", "format_paths", "lex_fields"]


@dataclass(frozen=True, slots=True)
class LexField:
    """One leaf of a record: where it is, its Python type, and its lexicon constraints.

    ``path`` is a pattern like ``$.annotations[*].label``; ``annotation`` is ``str``,
    ``int``, ``bool``, a ``Literal`` or a dict/list for JSON-form values; ``markers`` are
    the lexicon markers constraining it (empty for an unconstrained string).
    """

    path: str
    annotation: Any
    markers: tuple[object, ...]


def lex_fields(model: type[LexObject]) -> Iterator[LexField]:
    """Every leaf reachable from ``model``; a union yields the leaves of each variant.

    A def that contains itself (a tree of nodes) is walked once per path, not forever.
    """
    yield from _walk_model(model, (), frozenset())


def format_paths(model: type[LexObject], fmt: str) -> tuple[str, ...]:
    """Sorted path patterns of the string fields with lexicon ``format`` ``fmt``.

    ``format_paths(record_model("pub.layers.annotation.annotationLayer"), "at-uri")``
    lists e.g. ``$.expression`` and ``$.annotations[*].ontologyTypeRef``.
    """
    return tuple(
        sorted(
            {
                leaf.path
                for leaf in lex_fields(model)
                if any(isinstance(m, LexString) and m.format == fmt for m in leaf.markers)
            }
        )
    )


def _walk_model(model: type[LexObject], loc: tuple[str, ...], seen: frozenset[type]) -> Iterator[LexField]:
    if model in seen:
        return
    if not model.__pydantic_complete__:
        model.model_rebuild()  # deferred builds leave the field annotations unresolved
    for name, info in model.model_fields.items():
        yield from _walk_type(
            info.annotation, list(info.metadata), (*loc, info.alias or name), seen | {model}
        )


def _walk_type(
    annotation: Any, metadata: list[Any], loc: tuple[str, ...], seen: frozenset[type]
) -> Iterator[LexField]:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        yield from _walk_type(inner, [*metadata, *extra], loc, seen)
    elif origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _walk_type(arg, metadata, loc, seen)
    elif origin is list:
        yield from _walk_type(get_args(annotation)[0], [], (*loc, "[*]"), seen)
    elif isinstance(annotation, type) and issubclass(annotation, LexObject):
        yield from _walk_model(annotation, loc, seen)
    else:
        markers = tuple(m for m in metadata if type(m).__module__.startswith("lairs_etl.records.lextypes"))
        yield LexField(_pattern(loc), annotation, markers)


def _pattern(loc: tuple[str, ...]) -> str:
    return "$" + "".join(item if item == "[*]" else json_path((item,))[1:] for item in loc)
