"""The ``expressions`` view: each expression with its text and its chain of parents.

Expressions nest (a sentence's ``parentRef`` is its paragraph, whose parent is the
document), possibly across actors, so the chain is resolved over the whole revision:
:func:`parent_chains` takes every expression's parent, :func:`expressions_view` adds the
chain to one actor's typed expression table.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lairs_etl.views.explode import flatten_column, table_array
from lairs_etl.views.table import ADDRESS_COLUMNS, RESIDUAL_COLUMN

__all__ = ["parent_chains", "expressions_view"]


def parent_chains(parents: Mapping[str, str | None]) -> dict[str, tuple[str, ...]]:
    """Every expression's ancestors, nearest first.

    A chain ends at an expression without parent, at a parent that is not in
    ``parents`` (it is listed, as the last element: the revision does not hold it) or
    before a URI would repeat (a cycle).
    """
    chains: dict[str, tuple[str, ...]] = {}
    for uri in parents:
        chain: list[str] = []
        seen = {uri}
        parent = parents.get(uri)
        while parent is not None and parent not in seen:
            chain.append(parent)
            seen.add(parent)
            parent = parents.get(parent)
        chains[uri] = tuple(chain)
    return chains


def expressions_view(table: pa.Table, chains: Mapping[str, tuple[str, ...]]) -> pa.Table:
    """One row per expression: address, every property flattened, and its lineage.

    Lineage columns: ``parent_chain`` (list of AT-URIs, nearest first), ``depth`` (its
    length) and ``root_uri`` (the farthest ancestor, or the expression itself).
    """
    columns: list[tuple[str, pa.Array]] = [(name, table_array(table, name)) for name in ADDRESS_COLUMNS]
    skip = {*ADDRESS_COLUMNS, RESIDUAL_COLUMN, "$type"}
    for name in table.column_names:
        if name not in skip:
            columns.extend(flatten_column(name, table_array(table, name)))
    uris = table.column("uri").to_pylist()
    found = [chains.get(uri, ()) for uri in uris]
    columns.append(("parent_chain", pa.array([list(c) for c in found], pa.list_(pa.string()))))
    columns.append(("depth", pa.array([len(c) for c in found], pa.int64())))
    columns.append(
        ("root_uri", pa.array([c[-1] if c else u for c, u in zip(found, uris, strict=True)], pa.string()))
    )
    return pa.Table.from_arrays([a for _, a in columns], names=[n for n, _ in columns])
