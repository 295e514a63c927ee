"""Where each view file lives under a lake URL: hive partitions, versions, names.

::

    <lake>/_lairs_views.json                                      manifest (see .manifest)
    <lake>/_lairs_actors/<did>.json                               one actor's counts
    <lake>/<dataset>/v<N>/collection=<nsid>/actor=<did>/part-0.parquet

``dataset`` is ``records`` (one table per record type, told apart by ``collection``) or
an exploded view (``annotations``, ``tokens``, ``judgments``, ``expressions``) or
``invalid``. ``N`` is the table's schema version: it moves only on a breaking schema
change, so one directory never mixes incompatible files. The DID is escaped the way
Hive and Spark escape partition values (``:`` → ``%3A``, ``%`` → ``%25``): reversible,
safe in file names and S3 keys, and decoded back by DuckDB, Spark, Athena and BigQuery.
One file per partition with a fixed name, so replacing it is one rename (local) or one
PUT (object stores): readers see the old file or the new one, never both.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from lairs_etl.atproto.syntax import Did, Nsid

__all__ = [
    "ACTORS_DIR",
    "MANIFEST_NAME",
    "PART_NAME",
    "RECORDS_DATASET",
    "TableKey",
    "decode_actor",
    "encode_actor",
    "partition_path",
    "sql_name",
    "table_dir",
]

MANIFEST_NAME = "_lairs_views.json"
ACTORS_DIR = "_lairs_actors"
PART_NAME = "part-0.parquet"
RECORDS_DATASET = "records"


@dataclass(frozen=True, slots=True, order=True)
class TableKey:
    """A table: a dataset and the collection whose records feed it."""

    dataset: str
    collection: str

    @property
    def name(self) -> str:
        """``<dataset>/<collection>``, the manifest's key."""
        return f"{self.dataset}/{self.collection}"


def encode_actor(did: str) -> str:
    """The ``actor=`` partition value of a DID (validated here, then escaped).

    Raises:
        InvalidIdentifier: ``did`` is not a DID.
    """
    return quote(Did(did), safe="")


def decode_actor(value: str) -> Did:
    """The DID back from an ``actor=`` partition value.

    Raises:
        InvalidIdentifier: the value does not decode to a DID.
    """
    return Did(unquote(value))


def table_dir(lake: str, key: TableKey, version: int) -> str:
    """The directory of one table version, without a trailing slash."""
    return f"{lake.rstrip('/')}/{key.dataset}/v{version}/collection={Nsid(key.collection)}"


def partition_path(lake: str, key: TableKey, version: int, did: str) -> str:
    """The one file of ``did``'s partition of a table version."""
    return f"{table_dir(lake, key, version)}/actor={encode_actor(did)}/{PART_NAME}"


def sql_name(key: TableKey) -> str:
    """The warehouse view of a record table (NSID dots as underscores) or of a dataset."""
    if key.dataset == RECORDS_DATASET:
        return key.collection.replace(".", "_")
    return key.dataset
