"""Base classes of the generated models: strict, open to extra fields, exact round trip."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, JsonValue

__all__ = ["LexObject", "LexRecord"]


class LexObject(BaseModel):
    """A lexicon ``object`` def.

    Strict like the reference: no coercion (``"1"`` is not an integer, ``1.0`` neither:
    the atproto data model has no floats). Unknown properties are kept, not refused,
    because the reference ignores them and records must survive a round trip; a nested
    ``$type`` is such a property. ``LEX_ID`` is the def's ``nsid#name``.
    """

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        defer_build=True,
        protected_namespaces=(),
        revalidate_instances="never",
    )

    LEX_ID: ClassVar[str] = ""

    def to_json(self) -> dict[str, JsonValue]:
        """The JSON form this instance was validated from (or would validate from).

        ``model_dump(by_alias=True, exclude_unset=True)``: aliases restore lexicon names
        such as ``$type``, and unset fields (absent properties, unapplied defaults) stay
        absent so the dump equals the input.
        """
        dumped: dict[str, JsonValue] = self.model_dump(by_alias=True, exclude_unset=True)
        return dumped


class LexRecord(LexObject):
    """A lexicon ``record`` def; ``NSID`` is its collection, also its required ``$type``."""

    NSID: ClassVar[str] = ""
    KEY: ClassVar[str] = ""
