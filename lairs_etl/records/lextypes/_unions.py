"""Unions discriminated by ``$type`` (open and closed), and the array-as-object quirk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "ARRAY_BRANCH",
    "ArrayAsObject",
    "FAST_BRANCH",
    "NOISE_BRANCHES",
    "OPEN_UNION_TAG",
    "OpenVariant",
    "union_tag",
]

#: The tag of an open union's variant whose ``$type`` is not one of its refs.
OPEN_UNION_TAG = "lex:?open"
_UNRESOLVABLE_TAG = "lex:?unresolvable"
#: Location labels of alternatives whose errors only repeat the real one: the Rust fast
#: path of a string check, and the array branch of :class:`ArrayAsObject`.
FAST_BRANCH = "lex:fast"
ARRAY_BRANCH = "lex:array-as-object"
NOISE_BRANCHES = frozenset((FAST_BRANCH, ARRAY_BRANCH))


@dataclass(frozen=True, slots=True)
class ArrayAsObject:
    """On a ref to an object def without required properties: an array also passes.

    The reference checks objects with ``typeof value === "object"``, which arrays pass,
    and then finds none of the (optional) properties on them. To agree, such a ref
    accepts an array and keeps it as is. pydantic-core tries the model first, so
    objects pay nothing; the labels let diagnostics drop the array branch's error.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.union_schema(
            [(handler(source), "lex:object"), (core_schema.list_schema(strict=True), ARRAY_BRANCH)],
            mode="left_to_right",
        )


@dataclass(frozen=True, slots=True)
class OpenVariant:
    """An open union's value whose ``$type`` is none of the refs: kept as data, unchecked."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_check_variant)


def union_tag(refs: tuple[str, ...], *, closed: bool) -> Callable[[Any], str | None]:
    """The discriminator of a lexicon union over ``refs`` (full ``lex:nsid#name`` URIs).

    Like the reference, a ``$type`` names a ref with or without ``lex:`` and with an
    implicit or explicit ``#main``. No string ``$type`` gives no tag
    (``union_tag_not_found``); an unlisted one gives the open-variant tag, which a closed
    union does not have (``union_tag_invalid``).
    """
    table: dict[str, str] = {}
    for ref in refs:
        bare = ref.removeprefix("lex:")
        names = [bare]
        if bare.endswith("#main"):
            names.append(bare.removesuffix("#main"))
        elif "#" not in bare:
            names.append(f"{bare}#main")
        for name in names:
            table[name] = table[f"lex:{name}"] = ref
    fallback = "lex:?closed" if closed else OPEN_UNION_TAG

    def tag(value: Any) -> str | None:
        if isinstance(value, dict):
            kind = value.get("$type")
        else:  # a model instance, when serializing or validating built objects
            extra = getattr(value, "__pydantic_extra__", None) or {}
            kind = extra.get("$type", getattr(value, "LEX_ID", None))
        if not isinstance(kind, str):
            return None
        if kind.startswith("#"):
            # A relative $type has no lexicon to resolve against; the reference refuses it
            # even in an open union, so it routes to no variant.
            return _UNRESOLVABLE_TAG
        return table.get(kind, fallback)

    return tag


def _check_variant(value: Any) -> Any:
    # The discriminator only routes objects with a string $type here.
    return value
