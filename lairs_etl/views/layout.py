"""Where each view file lives under a lake URL: hive partitions, versions, names.

::

    <lake>/_lairs_views.json                                      manifest (see .manifest)
    <lake>/_lairs_actors/<did>.json                               one actor's counts and files
    <lake>/_lairs_catalog.sqlite                                  Iceberg catalog (local lakes)
    <lake>/<dataset>/v<N>/collection=<nsid>/                      an Iceberg table's location
        metadata/                                                 its Iceberg metadata
        actor=<did>/part-<sha256 of the bytes, 32 hex>.parquet    one partition's file

``dataset`` is ``records`` (one table per record type, told apart by ``collection``) or
an exploded view (``annotations``, ``tokens``, ``judgments``, ``expressions``) or
``invalid``. ``N`` is the table's schema version: it moves only on a breaking schema
change, so one directory never mixes incompatible files. The DID is escaped the way
Hive and Spark escape partition values (``:`` → ``%3A``, ``%`` → ``%25``): reversible,
safe in file names and S3 keys, and decoded back by DuckDB, Spark, Athena and BigQuery.
A DID whose escaped form is longer than :data:`MAX_ACTOR_COMPONENT` characters (a legal
``did:web`` may have 253 characters of host name) would break file systems' 255-byte
names, so it is shortened deterministically: a readable prefix, ``~`` (never in a DID,
so never in an escaped one) and 32 hex digits of the DID's SHA-256. The full DID stays
in every file (the ``did`` column and the ``lairs_etl.did`` key-value metadata) and in
the actor's state file, which is how a shortened value is read back.
A partition's current file is the one the manifest and the Iceberg table's current
snapshot name. Files are named by their content and never overwritten: a rewrite adds a
file, the table's next snapshot swaps it in, and readers of the previous snapshot still
find theirs (see :mod:`.iceberg`); the same bytes get the same name, so rebuilding an
unchanged lake writes nothing new. Lakes written before Iceberg had one
``part-0.parquet`` per partition (:data:`LEGACY_PART_NAME`); they are read and
registered as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lairs_etl.atproto.syntax import Did, Nsid
from lairs_etl.errors import InvalidIdentifier

__all__ = [
    "ACTORS_DIR",
    "INVALID_DATASET",
    "LEGACY_PART_NAME",
    "MANIFEST_NAME",
    "MAX_ACTOR_COMPONENT",
    "RECORDS_DATASET",
    "TableKey",
    "decode_actor",
    "encode_actor",
    "is_shortened",
    "part_name",
    "partition_path",
    "sql_name",
    "table_location",
    "table_name",
    "table_dir",
]

MANIFEST_NAME = "_lairs_views.json"
ACTORS_DIR = "_lairs_actors"
LEGACY_PART_NAME = "part-0.parquet"
RECORDS_DATASET = "records"
INVALID_DATASET = "invalid"
MAX_ACTOR_COMPONENT = 128
"""Longest ``actor=`` value written as the escaped DID itself; longer ones are shortened."""
_PREFIX = 64
_HASH_MARK = "~"


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
    """The ``actor=`` partition value of a DID (validated here, then escaped, shortened if long).

    Raises:
        InvalidIdentifier: ``did`` is not a DID.
    """
    escaped = quote(Did(did), safe="")
    if len(escaped) <= MAX_ACTOR_COMPONENT:
        return escaped
    prefix = escaped[:_PREFIX]
    cut = prefix.rfind("%")
    if cut >= _PREFIX - 2:  # never split an escape
        prefix = prefix[:cut]
    return f"{prefix}{_HASH_MARK}{hashlib.sha256(did.encode()).hexdigest()[:32]}"


def is_shortened(value: str) -> bool:
    """Whether an ``actor=`` value is a shortened one (its DID lives in the files' metadata)."""
    return _HASH_MARK in value


def decode_actor(value: str) -> Did:
    """The DID back from an ``actor=`` partition value that was not shortened.

    Raises:
        InvalidIdentifier: the value does not decode to a DID, or is shortened (read the
            file's ``did`` column or ``lairs_etl.did`` metadata instead).
    """
    if is_shortened(value):
        raise InvalidIdentifier(
            "a shortened actor partition value: the DID is in the files' metadata", kind="did", value=value
        )
    return Did(unquote(value))


def table_dir(lake: str, key: TableKey, version: int) -> str:
    """The directory of one table version, without a trailing slash."""
    return f"{lake.rstrip('/')}/{key.dataset}/v{version}/collection={Nsid(key.collection)}"


def part_name(data: bytes) -> str:
    """The file name of a partition file's bytes (see the module docstring)."""
    return f"part-{hashlib.sha256(data).hexdigest()[:32]}.parquet"


def partition_path(lake: str, key: TableKey, version: int, did: str, name: str) -> str:
    """The file ``name`` of ``did``'s partition of a table version."""
    return f"{table_dir(lake, key, version)}/actor={encode_actor(did)}/{name}"


def sql_name(key: TableKey) -> str:
    """The warehouse view of a record table (NSID dots as underscores) or of a dataset."""
    if key.dataset == RECORDS_DATASET:
        return key.collection.replace(".", "_")
    return key.dataset


def table_name(key: TableKey, version: int) -> str:
    """The Iceberg table of a lake table version (``__v<N>`` only past the first).

    One per record type and exploded view; the ``invalid`` dataset, one schema for every
    collection and a few rows each, is one table (``collection`` is in each row's URI).
    """
    if key.dataset == INVALID_DATASET:
        base = INVALID_DATASET
    else:
        base = f"{key.dataset}__{key.collection.replace('.', '_')}"
    return base if version == 1 else f"{base}__v{version}"


def table_location(lake: str, key: TableKey, version: int) -> str:
    """Where the Iceberg table of a lake table version lives (it holds the partition files)."""
    if key.dataset == INVALID_DATASET:
        return f"{lake.rstrip('/')}/{INVALID_DATASET}/v{version}"
    return table_dir(lake, key, version)
