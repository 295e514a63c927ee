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
import itertools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lairs_etl.errors import LairsError, isolated
from lairs_etl.views.explode import flatten_column, table_array
from lairs_etl.views.invalid import INVALID_DATASET
from lairs_etl.views.layout import RECORDS_DATASET, TableKey
from lairs_etl.views.shapes import EXPRESSION_COLLECTION
from lairs_etl.views.source import SourceRecord, ViewSource
from lairs_etl.views.table import ADDRESS_COLUMNS, RESIDUAL_COLUMN
from lairs_etl.views.writer import storage_errors

__all__ = [
    "MAX_LINEAGE_DEPTH",
    "expressions_view",
    "lake_parents",
    "parent_chains",
    "patched_parents",
    "source_parents",
]


MAX_LINEAGE_DEPTH = 64
"""Ancestors listed per expression at most. Real nesting is a handful of levels
(document, paragraph, sentence, token); a corpus chaining n expressions one under the
next would otherwise cost n²/2 list entries (3,846 chained expressions: 7.4 million
URIs, a gigabyte of Arrow memory)."""


def parent_chains(parents: Mapping[str, str | None]) -> dict[str, tuple[str, ...]]:
    """Every expression's ancestors, nearest first.

    A chain ends at an expression without parent, at a parent that is not in
    ``parents`` (it is listed, as the last element: the revision does not hold it),
    before a URI would repeat (a cycle), or after :data:`MAX_LINEAGE_DEPTH` ancestors.
    """
    chains: dict[str, tuple[str, ...]] = {}
    for uri in parents:
        chain: list[str] = []
        seen = {uri}
        parent = parents.get(uri)
        while parent is not None and parent not in seen and len(chain) < MAX_LINEAGE_DEPTH:
            chain.append(parent)
            seen.add(parent)
            parent = parents.get(parent)
        chains[uri] = tuple(chain)
    return chains


def expressions_view(table: pa.Table, chains: Mapping[str, tuple[str, ...]]) -> pa.Table:
    """One row per expression: address, every property flattened, and its lineage.

    Lineage columns: ``parent_chain`` (list of AT-URIs, nearest first), ``depth`` (its
    length) and ``root_uri`` (the farthest ancestor listed, or the expression itself);
    see :data:`MAX_LINEAGE_DEPTH`.
    """
    columns: list[tuple[str, pa.Array]] = [(name, table_array(table, name)) for name in ADDRESS_COLUMNS]
    skip = {*ADDRESS_COLUMNS, RESIDUAL_COLUMN, "$type"}
    for name in table.column_names:
        if name not in skip:
            columns.extend(flatten_column(name, table_array(table, name)))
    uris = table.column("uri").to_pylist()
    found = [chains.get(uri, ()) for uri in uris]
    columns.append(("parent_chain", _chain_array(found)))
    columns.append(("depth", pa.array([len(c) for c in found], pa.int64())))
    columns.append(
        ("root_uri", pa.array([c[-1] if c else u for c, u in zip(found, uris, strict=True)], pa.string()))
    )
    return pa.Table.from_arrays([a for _, a in columns], names=[n for n, _ in columns])


def _chain_array(chains: Sequence[tuple[str, ...]]) -> pa.Array | pa.ChunkedArray:
    """``chains`` as a list-of-strings array, built at its final size.

    Chains share their URIs (siblings repeat the same ancestors): each distinct URI is
    converted once and the values are taken by index, so the array is allocated at its
    exact size instead of growing by doubling as Arrow's list builder does (in a deep
    corpus that growth was 52 MB of a 100,000-record sync's 252 MB lake-write peak).
    """
    position: dict[str, int] = {}
    indices = [position.setdefault(uri, len(position)) for chain in chains for uri in chain]
    offsets = pa.array(itertools.accumulate((len(c) for c in chains), initial=0), pa.int32())
    try:
        values = pa.array(list(position), pa.string()).take(pa.array(indices, pa.int32()))
    except (pa.ArrowInvalid, pa.ArrowCapacityError):  # past 2 GiB of strings: the builder chunks
        return pa.array([list(c) for c in chains], pa.list_(pa.string()))
    return pa.ListArray.from_arrays(offsets, values)


def lake_parents(
    fs: fsspec.AbstractFileSystem,
    files: Mapping[TableKey, Mapping[str, str]],
    *,
    skip: Collection[str] = (),
    only: Collection[str] | None = None,
) -> dict[str, str | None]:
    """``uri -> parentRef`` of the expressions already in the lake: ``only``'s, or all but ``skip``'s.

    Invalid expressions count too (from the ``invalid`` dataset's JSON), as they do when
    :func:`source_parents` reads them: a chain reads the same from the lake as from the
    source. ``files`` names each table's current file per actor, as the manifest does.
    """
    parents: dict[str, str | None] = {}
    typed = TableKey(RECORDS_DATASET, EXPRESSION_COLLECTION)
    invalid = TableKey(INVALID_DATASET, EXPRESSION_COLLECTION)
    with storage_errors("cannot read the lake's expressions"):
        for key, columns in ((typed, ["uri", "parentRef"]), (invalid, ["uri", "record_json"])):
            for did, path in sorted(files.get(key, {}).items()):
                if did in skip or (only is not None and did not in only):
                    continue
                with fs.open(path, "rb") as handle:
                    table = pq.read_table(handle, columns=columns)
                uris = table.column("uri").to_pylist()
                if key is typed:
                    parents.update(zip(uris, table.column("parentRef").to_pylist(), strict=True))
                else:
                    parents.update(
                        zip(uris, map(_parent_in_json, table.column("record_json").to_pylist()), strict=True)
                    )
    return parents


def patched_parents(
    parents: dict[str, str | None], did: str, removed: Collection[str], put: Iterable[SourceRecord]
) -> None:
    """Apply a change of ``did``'s expressions (rkeys removed, records put) to ``parents``."""
    prefix = f"at://{did}/{EXPRESSION_COLLECTION}/"
    for rkey in removed:
        parents.pop(prefix + rkey, None)
    for record in put:
        parents[prefix + record.rkey] = _parent_of(record)


def _parent_in_json(text: str | None) -> str | None:
    if text is None:
        return None
    value = json.loads(text)
    parent = value.get("parentRef") if isinstance(value, dict) else None
    return parent if isinstance(parent, str) else None


def _parent_of(record: SourceRecord) -> str | None:
    parent = None if record.value is None else record.value.get("parentRef")
    return parent if isinstance(parent, str) else None


def source_parents(
    source: ViewSource, actors: list[str], failed: dict[str, LairsError]
) -> dict[str, str | None]:
    """``uri -> parentRef`` of the actors' expressions; an actor that cannot be read goes to ``failed``."""
    parents: dict[str, str | None] = {}

    def read(did: str) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for record in source.records(did, [EXPRESSION_COLLECTION]):
            found[f"at://{record.did}/{record.collection}/{record.rkey}"] = _parent_of(record)
        return found

    for did in actors:
        outcome = isolated(functools.partial(read, did), actor=did)
        if isinstance(outcome, LairsError):
            failed[did] = outcome
        else:
            parents.update(outcome)
    return parents
