"""Schema evolution of a lake table, by Iceberg's rules: in place when Iceberg allows it.

A new Layers version that adds properties (or variants, or anchor kinds) adds columns or
struct fields; one that drops a property drops its column. Iceberg does both in place
(columns are known by id: old files keep a dropped column and readers skip it), so the
table keeps its name, its version and its history, and only the actors being written
are rewritten. A change of type is also in place when Iceberg widens it (``int32`` to
``int64``, ``float32`` to ``float64``). Any other change of type would leave one table
holding files that disagree: the table moves to a new version (a new Iceberg table,
``<name>__v<N+1>``, written whole). Drops and moves are reported; additions, which
readers need not act on, are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["SchemaChange", "breaking_reason", "dropped_fields", "next_version"]

_WIDENINGS = {(pa.int32(), pa.int64()), (pa.float32(), pa.float64())}


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A table whose schema changed: in place (same version) or to a new version."""

    table: str
    old_version: int
    new_version: int
    reason: str

    @property
    def in_place(self) -> bool:
        """Whether the table evolved in place (Iceberg schema update) rather than moving."""
        return self.old_version == self.new_version


def breaking_reason(old: pa.Schema, new: pa.Schema) -> str | None:
    """Why files of ``old`` cannot be read as ``new`` (``None``: Iceberg evolves it in place)."""
    fresh = {field.name: field.type for field in new}
    for field in old:
        if field.name in fresh:
            reason = _type_reason(field.type, fresh[field.name], field.name)
            if reason is not None:
                return reason
    return None


def dropped_fields(old: pa.Schema, new: pa.Schema) -> list[str]:
    """Columns and struct fields of ``old`` that ``new`` no longer has, as dotted paths."""
    return _dropped(list(old), {field.name: field.type for field in new}, "")


def next_version(
    table: str, old_version: int | None, old: pa.Schema | None, new: pa.Schema
) -> tuple[int, SchemaChange | None]:
    """The version ``new`` is written under, and the change to report (if any)."""
    if old_version is None or old is None:
        return 1, None
    reason = breaking_reason(old, new)
    if reason is not None:
        return old_version + 1, SchemaChange(table, old_version, old_version + 1, reason)
    dropped = dropped_fields(old, new)
    if dropped:
        reason = f"dropped in place: {', '.join(dropped)}"
        return old_version, SchemaChange(table, old_version, old_version, reason)
    return old_version, None


def _dropped(fields: list[pa.Field], fresh: dict[str, pa.DataType], prefix: str) -> list[str]:
    gone: list[str] = []
    for field in fields:
        path = f"{prefix}{field.name}"
        if field.name not in fresh:
            gone.append(path)
            continue
        now = fresh[field.name]
        if pa.types.is_struct(field.type) and pa.types.is_struct(now):
            gone += _dropped(list(field.type), {f.name: f.type for f in now}, f"{path}.")
        elif _is_list(field.type) and _is_list(now):
            item, fresh_item = field.type.value_type, now.value_type
            if pa.types.is_struct(item) and pa.types.is_struct(fresh_item):
                gone += _dropped(list(item), {f.name: f.type for f in fresh_item}, f"{path}.element.")
    return gone


def _type_reason(old: pa.DataType, new: pa.DataType, where: str) -> str | None:
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        fresh = {field.name: field.type for field in new}
        for field in old:
            if field.name in fresh:
                reason = _type_reason(field.type, fresh[field.name], f"{where}.{field.name}")
                if reason is not None:
                    return reason
        return None
    if _is_list(old) and _is_list(new):
        return _type_reason(old.value_type, new.value_type, f"{where}[]")
    if old != new and (old, new) not in _WIDENINGS:
        return f"{where} changed from {old} to {new}"
    return None


def _is_list(kind: pa.DataType) -> bool:
    """A list of either offset width: an Iceberg table's schema reads back as ``large_list``."""
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))
