"""Exploded views computed from typed record tables with Arrow kernels (no Python loop per row).

A list column becomes one row per item (:func:`explode_list`), parent columns are
repeated with ``take``, and struct columns are flattened into one column per leaf
(:func:`flatten_column`), so the view's columns follow the record table's schema,
which follows the models.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from lairs_etl.errors import ViewsError
from lairs_etl.views.shapes import ExplodedView

__all__ = ["anchor_kind", "explode_list", "explode_view", "flatten_column", "table_array"]


def table_array(table: pa.Table, name: str) -> pa.Array:
    """A column as one contiguous array (empty tables included)."""
    column = table.column(name)
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)


def flatten_column(name: str, array: pa.Array) -> list[tuple[str, pa.Array]]:
    """``name`` and its array, or one ``name_<field>…`` pair per leaf of a struct.

    A null struct gives nulls in every leaf (``StructArray.flatten`` applies the parent
    validity); lists are leaves.
    """
    if not pa.types.is_struct(array.type):
        return [(name, array)]
    assert isinstance(array, pa.StructArray)
    out: list[tuple[str, pa.Array]] = []
    for field, child in zip(array.type, array.flatten(), strict=True):
        out.extend(flatten_column(f"{name}_{field.name}", child))
    return out


def explode_list(lists: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """``(parent row, item, position in its list)`` for every item of a list array."""
    parents = pc.list_parent_indices(lists)
    items = pc.list_flatten(lists)
    lengths = pc.cast(pc.fill_null(pc.list_value_length(lists), 0), pa.int64())
    starts = pc.subtract(pc.cumulative_sum(lengths), lengths)
    ordinal = pa.array(range(len(items)), pa.int64())
    positions = pc.subtract(ordinal, pc.take(starts, parents))
    return parents, items, positions


def anchor_kind(anchor: pa.Array) -> pa.Array:
    """Which variants of an anchor struct are set, ``+``-joined (null when none)."""
    assert isinstance(anchor, pa.StructArray)
    kinds = pa.nulls(len(anchor), pa.string())
    for field, child in zip(anchor.type, anchor.flatten(), strict=True):
        name = pa.scalar(field.name)
        added = pc.if_else(pc.is_null(kinds), name, pc.binary_join_element_wise(kinds, name, "+"))
        kinds = pc.if_else(pc.is_valid(child), added, kinds)
    return kinds


def explode_view(table: pa.Table, view: ExplodedView) -> pa.Table:
    """The exploded view ``view`` of a typed record table of ``view.collection``.

    Raises:
        ViewsError: two columns of the view would get the same name.
    """
    alias = view.record_alias
    columns: list[tuple[str, pa.Array]] = [
        (f"{alias}_uri", table_array(table, "uri")),
        ("did", table_array(table, "did")),
        (f"{alias}_cid", table_array(table, "cid")),
        ("commit", table_array(table, "commit")),
    ]
    for name in view.carry:
        columns.extend(flatten_column(f"{alias}_{name}", table_array(table, name)))
    pending = table_array(table, view.levels[0].field)
    for depth, level in enumerate(view.levels):
        parents, items, positions = explode_list(pending)
        columns = [(name, pc.take(array, parents)) for name, array in columns]
        columns.append((f"{level.alias}_position", positions))
        assert isinstance(items, pa.StructArray)
        children = dict(zip([f.name for f in items.type], items.flatten(), strict=True))
        if depth + 1 < len(view.levels):
            pending = children.pop(view.levels[depth + 1].field)
            for name, child in children.items():
                if not pa.types.is_list(child.type):
                    columns.extend(flatten_column(f"{level.alias}_{name}", child))
            continue
        if view.anchor is not None and view.anchor in children:
            columns.append(("anchor_kind", anchor_kind(children[view.anchor])))
        for name, child in children.items():
            columns.extend(flatten_column(name, child))
    return _table(columns)


def _table(columns: Iterable[tuple[str, pa.Array]]) -> pa.Table:
    pairs = list(columns)
    names = [name for name, _ in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ViewsError(f"exploded view columns collide: {duplicates}")
    return pa.Table.from_arrays([array for _, array in pairs], names=names)
