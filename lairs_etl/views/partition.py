"""Every table of one (actor, collection) partition, from its records.

The records are validated (the repository stores what the PDS served, valid or not):
valid ones make the typed table and, for the record types of
:data:`~lairs_etl.views.exploded.EXPLODED_VIEWS`, the exploded views; invalid ones go to
the ``invalid`` dataset with their diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from lairs_etl.records import Diagnostic, find_record_model, record_types, validate_record
from lairs_etl.views.explode import explode_view
from lairs_etl.views.exploded import EXPLODED_VIEWS, EXPRESSION_COLLECTION, EXPRESSIONS_DATASET
from lairs_etl.views.invalid import INVALID_DATASET, InvalidRecord, invalid_table
from lairs_etl.views.layout import RECORDS_DATASET, TableKey
from lairs_etl.views.lineage import expressions_view
from lairs_etl.views.manifest import ActorStats
from lairs_etl.views.source import SourceRecord
from lairs_etl.views.table import RecordRow, records_table

__all__ = ["Partition", "build_partition", "empty_tables"]

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
