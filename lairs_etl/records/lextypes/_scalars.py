"""Markers for lexicon ``string``, ``integer`` and ``boolean`` fields, and ``Omittable``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from lairs_etl.records._fastpath import ASCII_PATTERN, FAST_CAPS, FAST_PATTERNS
from lairs_etl.records.formats import FORMAT_CHECKS
from lairs_etl.records.lextypes._errors import fail as _fail
from lairs_etl.records.lextypes._errors import utf8_len as _utf8_len
from lairs_etl.records.lextypes._unions import FAST_BRANCH

__all__ = ["LexBoolean", "LexInteger", "LexString", "Omittable"]

_GRAPHEME = regex.compile(r"\X")

if TYPE_CHECKING:
    from typing import Optional as Omittable
else:

    class Omittable:
        """``Omittable[T]``: an optional property that may be absent but never null.

        Type checkers read it as ``T | None`` (absent reads as ``None``); pydantic sees
        plain ``T``, so an explicit ``null`` fails as the reference says, at no cost.
        """

        def __class_getitem__(cls, item: object) -> object:
            return item


@dataclass(frozen=True, slots=True)
class LexString:
    """A lexicon ``string``: lengths in UTF-8 bytes, graphemes, ``format``, ``knownValues``.

    ``knownValues`` are advisory (open set) and not enforced; a closed ``enum`` or
    ``const`` is the field's ``Literal`` type.
    """

    format: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_graphemes: int | None = None
    max_graphemes: int | None = None
    known_values: tuple[str, ...] = ()

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        checks = self._checks()
        if not checks:
            return schema

        def check(value: str) -> str:
            for one in checks:
                one(value)
            return value

        exact = core_schema.no_info_after_validator_function(check, schema)
        if source is not str or self.min_graphemes is not None or self.max_graphemes is not None:
            return exact
        return core_schema.union_schema(
            [(self._fast_schema(), FAST_BRANCH), (exact, "lex:exact")], mode="left_to_right"
        )

    def _fast_schema(self) -> CoreSchema:
        """The Rust-only check that common valid values pass (see ``_fastpath``)."""
        pattern, high = ASCII_PATTERN, self.max_length
        if self.format is not None:
            pattern = FAST_PATTERNS[self.format]
            cap = FAST_CAPS.get(self.format)
            high = cap if high is None else high if cap is None else min(high, cap)
        return core_schema.str_schema(
            strict=True, pattern=pattern, min_length=self.min_length, max_length=high
        )

    def _checks(self) -> list[Callable[[str], None]]:
        checks: list[Callable[[str], None]] = []
        low, high = self.min_length, self.max_length
        if low is not None or high is not None:
            checks.append(_byte_length_check(low, high))
        if self.min_graphemes is not None or self.max_graphemes is not None:
            checks.append(_grapheme_check(self.min_graphemes, self.max_graphemes))
        if self.format is not None:
            checks.append(_format_check(self.format))
        return checks


def _byte_length_check(low: int | None, high: int | None) -> Callable[[str], None]:
    def check(value: str) -> None:
        size = len(value) if value.isascii() else _utf8_len(value)
        if high is not None and size > high:
            raise _fail("max_length", f"must not be longer than {high} UTF-8 bytes")
        if low is not None and size < low:
            raise _fail("min_length", f"must not be shorter than {low} UTF-8 bytes")

    return check


def _grapheme_check(low: int | None, high: int | None) -> Callable[[str], None]:
    def check(value: str) -> None:
        count = len(_GRAPHEME.findall(value))
        if high is not None and count > high:
            raise _fail("max_graphemes", f"must not be longer than {high} graphemes")
        if low is not None and count < low:
            raise _fail("min_graphemes", f"must not be shorter than {low} graphemes")

    return check


def _format_check(name: str) -> Callable[[str], None]:
    predicate = FORMAT_CHECKS[name]
    code, message = f"format.{name}", f"must be a valid {name}"

    def check(value: str) -> None:
        if not predicate(value):
            raise _fail(code, message)

    return check


def _integral_float_to_int(value: Any) -> Any:
    if type(value) is float and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True, slots=True)
class LexInteger:
    """A lexicon ``integer``: no bool, no numeric string; bounds, enum, const.

    An integral float (``5.0``, ``1e2``, ``-0.0``) is accepted as that integer, as the
    reference validator does: JSON has one number type, a JS parser cannot tell ``5.0``
    from ``5``, and the PDS stores it as the DAG-CBOR integer. ``5.5`` is refused.
    """

    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[int, ...] | None = None
    const: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = core_schema.no_info_before_validator_function(
            _integral_float_to_int, core_schema.int_schema(strict=True, ge=self.minimum, le=self.maximum)
        )
        allowed = (self.const,) if self.const is not None else self.enum
        if allowed is None:
            return schema
        code = "const" if self.const is not None else "enum"
        members = frozenset(allowed)

        def check(value: int) -> int:
            if value not in members:
                raise _fail(code, f"must be one of {sorted(members)}")
            return value

        return core_schema.no_info_after_validator_function(check, schema)


@dataclass(frozen=True, slots=True)
class LexBoolean:
    """A lexicon ``boolean``, optionally ``const``."""

    const: bool | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = core_schema.bool_schema(strict=True)
        if self.const is None:
            return schema
        expected = self.const

        def check(value: bool) -> bool:
            if value is not expected:
                raise _fail("const", f"must be {str(expected).lower()}")
            return value

        return core_schema.no_info_after_validator_function(check, schema)
