"""Schema evolution of a view table: widening keeps the version, anything else bumps it.

A new Layers version that only adds properties (or variants, or anchor kinds) adds
columns or struct fields: old files still read under the new schema, so the table keeps
its directory. Removing a column or changing a type would make one directory hold
files that disagree; the table then moves to ``v<N+1>`` and the change is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["SchemaChange", "breaking_reason", "next_version"]


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A table moved to a new version because its schema changed incompatibly."""

    table: str
    old_version: int
    new_version: int
    reason: str


def breaking_reason(old: pa.Schema, new: pa.Schema) -> str | None:
    """Why files of ``old`` cannot be read as ``new`` (``None``: ``new`` only widens)."""
    fresh = {field.name: field.type for field in new}
    for field in old:
        if field.name not in fresh:
            return f"column {field.name!r} removed"
        reason = _type_reason(field.type, fresh[field.name], field.name)
        if reason is not None:
            return reason
    return None


def next_version(
    table: str, old_version: int | None, old: pa.Schema | None, new: pa.Schema
) -> tuple[int, SchemaChange | None]:
    """The version ``new`` is written under, and the change to report if it moved."""
    if old_version is None or old is None:
        return 1, None
    reason = breaking_reason(old, new)
    if reason is None:
        return old_version, None
    return old_version + 1, SchemaChange(table, old_version, old_version + 1, reason)


def _type_reason(old: pa.DataType, new: pa.DataType, where: str) -> str | None:
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        fresh = {field.name: field.type for field in new}
        for field in old:
            if field.name not in fresh:
                return f"field {where}.{field.name} removed"
            reason = _type_reason(field.type, fresh[field.name], f"{where}.{field.name}")
            if reason is not None:
                return reason
        return None
    if pa.types.is_list(old) and pa.types.is_list(new):
        return _type_reason(old.value_type, new.value_type, f"{where}[]")
    if old != new:
        return f"{where} changed from {old} to {new}"
    return None
