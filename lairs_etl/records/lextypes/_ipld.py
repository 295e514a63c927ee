"""Markers for ``cid-link``, ``bytes``, ``blob`` and ``unknown``: values kept in JSON form."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from lairs_etl.records._multibase import is_cid_string, is_lex_link
from lairs_etl.records.lextypes._errors import fail as _fail

__all__ = ["Blob", "Bytes", "CidLink", "Unknown"]

# Node's Buffer accepts both base64 alphabets; the reference then checks the length.
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/_-]*")


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
    if _BASE64_BODY.fullmatch(body) is None or len(body) % 4 == 1:
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
