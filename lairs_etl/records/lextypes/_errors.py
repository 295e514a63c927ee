"""Custom pydantic errors whose type is our stable diagnostic code."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

__all__ = ["fail", "utf8_len"]


def fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def utf8_len(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))
