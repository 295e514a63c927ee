"""Field types of the generated models: one annotation per Lexicon type, introspectable.

Generated modules annotate fields as ``Annotated[<python type>, <marker>]``. Each marker
is a frozen dataclass that (1) records the lexicon constraints, so other layers can read
them from ``Model.model_fields[name].metadata`` (e.g. ``LexString(format="at-uri")``
marks a reference to another record), and (2) builds the pydantic-core schema that
checks them. Checks that pydantic-core cannot express (UTF-8 byte lengths, grapheme
counts, string formats) run in one small Python function per field.

Values of ``cid-link``, ``bytes``, ``blob`` and ``unknown`` stay in their JSON form
(``{"$link": …}``, ``{"$bytes": …}``, blob dicts, plain containers), so a validated model
dumps back to exactly the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from lairs_etl.records._fastpath import ASCII_PATTERN, FAST_CAPS, FAST_PATTERNS
from lairs_etl.records._multibase import is_cid_string, is_lex_link
from lairs_etl.records.formats import FORMAT_CHECKS

__all__ = [
    "ARRAY_BRANCH",
    "FAST_BRANCH",
    "NOISE_BRANCHES",
    "OPEN_UNION_TAG",
    "ArrayAsObject",
    "Blob",
    "Bytes",
    "CidLink",
    "LexBoolean",
    "LexInteger",
    "LexString",
    "Omittable",
    "OpenVariant",
    "Unknown",
    "union_tag",
]

#: The tag of an open union's variant whose ``$type`` is not one of its refs.
OPEN_UNION_TAG = "lex:?open"
#: Location labels of alternatives whose errors only repeat the real one: the Rust fast
#: path of a string check, and the array branch of :class:`ArrayAsObject`.
FAST_BRANCH = "lex:fast"
ARRAY_BRANCH = "lex:array-as-object"
NOISE_BRANCHES = frozenset((FAST_BRANCH, ARRAY_BRANCH))
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


def _fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


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
        return core_schema.str_schema(strict=True, pattern=pattern, min_length=self.min_length, max_length=high)

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


@dataclass(frozen=True, slots=True)
class LexInteger:
    """A lexicon ``integer``: strict (no bool, no float, no numeric string), bounds, enum, const."""

    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[int, ...] | None = None
    const: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = core_schema.int_schema(strict=True, ge=self.minimum, le=self.maximum)
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


def _plain(check: Callable[[Any], Any]) -> CoreSchema:
    return core_schema.no_info_plain_validator_function(check)


@dataclass(frozen=True, slots=True)
class CidLink:
    """A lexicon ``cid-link``: ``{"$link": "<cid>"}`` and nothing else."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(_check_cid_link)


def _check_cid_link(value: Any) -> Any:
    if not (isinstance(value, dict) and len(value) == 1 and _is_link(value.get("$link"))):
        raise _fail("cid_link", 'must be a CID link {"$link": "<cid>"}')
    return value


def _is_link(value: object) -> bool:
    return isinstance(value, str) and is_lex_link(value)


@dataclass(frozen=True, slots=True)
class Bytes:
    """A lexicon ``bytes``: ``{"$bytes": "<base64>"}``; lengths count decoded bytes."""

    min_length: int | None = None
    max_length: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        low, high = self.min_length, self.max_length

        def check(value: Any) -> Any:
            size = _bytes_size(value)
            if size is None:
                raise _fail("bytes", 'must be bytes {"$bytes": "<base64>"}')
            if high is not None and size > high:
                raise _fail("max_length", f"must not be larger than {high} bytes")
            if low is not None and size < low:
                raise _fail("min_length", f"must not be smaller than {low} bytes")
            return value

        return _plain(check)


def _bytes_size(value: Any) -> int | None:
    """Decoded size of a ``$bytes`` object as Node's ``Buffer`` + length check accepts it."""
    if not (isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$bytes"), str)):
        return None
    text: str = value["$bytes"]
    body = text[:-2] if text.endswith("==") else text[:-1] if text.endswith("=") else text
    if regex.fullmatch(r"[A-Za-z0-9+/_-]*", body) is None or len(body) % 4 == 1:
        return None
    return len(body) * 3 // 4


@dataclass(frozen=True, slots=True)
class Blob:
    """A lexicon ``blob``: a typed blob ref, or the legacy ``{"cid", "mimeType"}`` form.

    ``accept`` and ``max_size`` are recorded for callers but not enforced: the reference
    record validator does not check them either (the PDS does, at upload).
    """

    accept: tuple[str, ...] = ()
    max_size: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(_check_blob)


_TYPED_BLOB_KEYS = frozenset(("$type", "ref", "mimeType", "size"))
_LEGACY_BLOB_KEYS = frozenset(("cid", "mimeType"))


def _check_blob(value: Any) -> Any:
    if isinstance(value, dict) and _is_blob(value):
        return value
    raise _fail("blob", "must be a blob ref")


def _is_blob(value: Mapping[str, Any]) -> bool:
    keys = value.keys()
    if keys == _TYPED_BLOB_KEYS:
        ref, size = value["ref"], value["size"]
        return (
            value["$type"] == "blob"
            and isinstance(value["mimeType"], str)
            and isinstance(size, int | float)
            and not isinstance(size, bool)
            and isinstance(ref, dict)
            and len(ref) == 1
            and _is_link(ref.get("$link"))
        )
    if keys == _LEGACY_BLOB_KEYS:
        cid = value["cid"]
        return isinstance(value["mimeType"], str) and isinstance(cid, str) and is_cid_string(cid)
    return False


@dataclass(frozen=True, slots=True)
class Unknown:
    """A lexicon ``unknown``: any JSON object (the reference also lets an array through)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _plain(_check_unknown)


def _check_unknown(value: Any) -> Any:
    if not isinstance(value, dict | list):
        raise _fail("unknown", "must be an object")
    return value


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
        return _plain(_check_unknown)


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
        return table.get(kind, fallback)

    return tag
