"""Every table of one (actor, collection) partition, from its records.

The records are validated (the repository stores what the PDS served, valid or not):
valid ones make the typed table and, for the record types of
:data:`~lairs_etl.views.shapes.EXPLODED_VIEWS`, the exploded views; invalid ones go to
the ``invalid`` dataset with their diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from lairs_etl.records import Diagnostic, find_record_model, record_types, validate_record
from lairs_etl.views.explode import explode_view
from lairs_etl.views.invalid import INVALID_DATASET, INVALID_SCHEMA, InvalidRecord, invalid_table
from lairs_etl.views.layout import RECORDS_DATASET, TableKey
from lairs_etl.views.lineage import expressions_view
from lairs_etl.views.manifest import ActorStats
from lairs_etl.views.shapes import EXPLODED_VIEWS, EXPRESSION_COLLECTION, EXPRESSIONS_DATASET
from lairs_etl.views.source import PartitionPatch, SourceRecord
from lairs_etl.views.table import RecordRow, record_schema, records_table

__all__ = ["Partition", "build_partition", "empty_tables", "patch_partition"]

_UNDECODABLE = Diagnostic("$", "decode", "the stored block is not a DAG-CBOR map")


@dataclass(frozen=True, slots=True)
class Partition:
    """The non-empty tables of one partition and its counts."""

    stats: ActorStats
    tables: Mapping[TableKey, pa.Table]


def build_partition(
    collection: str, records: Sequence[SourceRecord], commit: str, chains: Mapping[str, tuple[str, ...]]
) -> Partition:
    """The tables of ``records`` (one actor, one collection), rows in rkey order.

    ``chains`` maps expression URIs to their parent chains (see :mod:`.lineage`).
    """
    ordered = sorted(records, key=lambda r: r.rkey)
    valid: list[RecordRow] = []
    invalid: list[InvalidRecord] = []
    for record in ordered:
        if record.value is None:
            invalid.append(InvalidRecord(record, (_UNDECODABLE,)))
            continue
        found = record.diagnostics
        if found is None:
            found = validate_record(record.value, nsid=collection, from_dag_cbor=True).diagnostics
        if not found:
            valid.append(RecordRow(record.did, collection, record.rkey, record.cid, record.value))
        else:
            invalid.append(InvalidRecord(record, found))
    tables: dict[TableKey, pa.Table] = {}
    if valid and find_record_model(collection) is not None:
        tables.update(_typed_tables(collection, records_table(collection, valid, commit), chains))
    if invalid:
        tables[TableKey(INVALID_DATASET, collection)] = invalid_table(invalid, commit)
    did = ordered[0].did if ordered else ""
    stats = ActorStats(did, collection, len(valid), len(invalid), sum(r.size for r in ordered))
    return Partition(stats, {key: table for key, table in tables.items() if table.num_rows})


def patch_partition(  # noqa: PLR0917  # the partition's old state and its change, all needed
    collection: str,
    old_typed: pa.Table | None,
    old_invalid: pa.Table | None,
    old_stats: ActorStats,
    patch: PartitionPatch,
    commit: str,
    chains: Mapping[str, tuple[str, ...]],
) -> Partition:
    """The tables of a partition the lake holds (``old_…``; None: no file), changed by ``patch``.

    The lake's rows of the records ``patch`` removes go, the records it puts are
    encoded (validated first unless they carry their verdicts), and the rows are
    sorted by rkey and stamped with ``commit``: the tables :func:`build_partition`
    makes from the whole partition at ``commit``, at the cost of the change, not of
    the partition. The derived views are rebuilt from the patched typed table.
    """
    fresh = build_partition(collection, patch.put, commit, {})
    typed_key, invalid_key = TableKey(RECORDS_DATASET, collection), TableKey(INVALID_DATASET, collection)
    typed_schema = record_schema(collection) if find_record_model(collection) is not None else None
    typed = _patched(old_typed, fresh.tables.get(typed_key), patch.removed, commit, typed_schema)
    invalid = _patched(old_invalid, fresh.tables.get(invalid_key), patch.removed, commit, INVALID_SCHEMA)
    tables: dict[TableKey, pa.Table] = {}
    if typed is not None and typed.num_rows and find_record_model(collection) is not None:
        tables.update(_typed_tables(collection, typed, chains))
    if invalid is not None and invalid.num_rows:
        tables[invalid_key] = invalid
    stats = ActorStats(
        old_stats.did,
        collection,
        0 if typed is None else typed.num_rows,
        0 if invalid is None else invalid.num_rows,
        old_stats.bytes - patch.removed_bytes + sum(r.size for r in patch.put),
    )
    return Partition(stats, {key: table for key, table in tables.items() if table.num_rows})


def _patched(
    old: pa.Table | None, new: pa.Table | None, removed: frozenset[str], commit: str, schema: pa.Schema | None
) -> pa.Table | None:
    """``old`` without the ``removed`` rkeys, plus ``new``, by rkey, every row at ``commit``.

    ``old`` is cast to ``schema`` first: read back from Parquet, its lists name their
    items ``element`` where a table built here says ``item``, which the file's embedded
    Arrow schema would keep (same values, other bytes).
    """
    if old is None:
        return new
    if schema is not None:
        old = old.cast(schema)
    if removed:
        old = old.filter(pc.invert(pc.is_in(old.column("rkey"), value_set=pa.array(sorted(removed)))))
    index = old.schema.get_field_index("commit")
    old = old.set_column(index, old.schema.field(index), pa.array([commit] * old.num_rows, pa.string()))
    merged = old if new is None else pa.concat_tables([old, new.cast(old.schema)])
    return merged.sort_by("rkey").combine_chunks()


@cache
def empty_tables() -> dict[TableKey, pa.Table]:
    """Every typed table and view the models define, empty: the lake's full schema."""
    tables: dict[TableKey, pa.Table] = {}
    for nsid in record_types():
        tables.update(_typed_tables(nsid, records_table(nsid, [], ""), {}))
    return tables


def _typed_tables(
    collection: str, typed: pa.Table, chains: Mapping[str, tuple[str, ...]]
) -> dict[TableKey, pa.Table]:
    tables = {TableKey(RECORDS_DATASET, collection): typed}
    for view in EXPLODED_VIEWS:
        if view.collection == collection:
            tables[TableKey(view.dataset, collection)] = explode_view(typed, view)
    if collection == EXPRESSION_COLLECTION:
        tables[TableKey(EXPRESSIONS_DATASET, collection)] = expressions_view(typed, chains)
    return tables
