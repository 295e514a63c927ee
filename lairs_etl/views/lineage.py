"""The ``expressions`` view: each expression with its text and its chain of parents.

Expressions nest (a sentence's ``parentRef`` is its paragraph, whose parent is the
document), possibly across actors, so the chain is resolved over the whole revision:
:func:`parent_chains` takes every expression's parent, :func:`expressions_view` adds the
chain to one actor's typed expression table. The parents come from the source for the
actors a materialization rewrites (:func:`source_parents`) and from the lake as it
stands for the others (:func:`lake_parents`).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lairs_etl.errors import LairsError, isolated
from lairs_etl.views.explode import flatten_column, table_array
from lairs_etl.views.exploded import EXPRESSION_COLLECTION
from lairs_etl.views.lakestate import partition_value
from lairs_etl.views.layout import PART_NAME, RECORDS_DATASET, TableKey, encode_actor, table_dir
from lairs_etl.views.source import ViewSource
from lairs_etl.views.table import ADDRESS_COLUMNS, RESIDUAL_COLUMN
from lairs_etl.views.writer import storage_errors

__all__ = ["expressions_view", "lake_parents", "parent_chains", "source_parents"]


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


def lake_parents(
    fs: fsspec.AbstractFileSystem,
    root: str,
    versions: Mapping[TableKey, int],
    *,
    skip: Collection[str] = (),
    only: Collection[str] | None = None,
) -> dict[str, str | None]:
    """``uri -> parentRef`` of the expressions already in the lake: ``only``'s, or all but ``skip``'s."""
    key = TableKey(RECORDS_DATASET, EXPRESSION_COLLECTION)
    parents: dict[str, str | None] = {}
    skipped = {encode_actor(did) for did in skip}
    wanted = None if only is None else {encode_actor(did) for did in only}
    with storage_errors(f"cannot read expressions under {root}"):
        for path in sorted(fs.glob(f"{table_dir(root, key, versions.get(key, 1))}/*/{PART_NAME}")):
            actor = partition_value(str(path), "actor")
            if actor in skipped or (wanted is not None and actor not in wanted):
                continue
            with fs.open(path, "rb") as handle:
                table = pq.read_table(handle, columns=["uri", "parentRef"])
            pairs = zip(table.column("uri").to_pylist(), table.column("parentRef").to_pylist(), strict=True)
            parents.update(pairs)
    return parents


def source_parents(
    source: ViewSource, actors: list[str], failed: dict[str, LairsError]
) -> dict[str, str | None]:
    """``uri -> parentRef`` of the actors' expressions; an actor that cannot be read goes to ``failed``."""
    parents: dict[str, str | None] = {}

    def read(did: str) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for record in source.records(did, [EXPRESSION_COLLECTION]):
            parent = None if record.value is None else record.value.get("parentRef")
            found[f"at://{record.did}/{record.collection}/{record.rkey}"] = (
                parent if isinstance(parent, str) else None
            )
        return found

    for did in actors:
        outcome = isolated(functools.partial(read, did), actor=did)
        if isinstance(outcome, LairsError):
            failed[did] = outcome
        else:
            parents.update(outcome)
    return parents
