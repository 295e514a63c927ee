"""The partitions of the per-actor assets: dynamic actors x the tracked collections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dagster import (
    AssetKey,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    RunRequest,
    StaticPartitionsDefinition,
)

from lairs_etl.atproto.syntax import Nsid
from lairs_etl.dagster.constants import ACTOR_DIMENSION, ACTORS_PARTITIONS, COLLECTION_DIMENSION
from lairs_etl.errors import ConfigError
from lairs_etl.sync import ActorSync, CollectionSync

__all__ = [
    "PartitionOutcome",
    "actor_partitions",
    "build_partitions",
    "partition_key",
    "range_request",
    "split_key",
    "tracked_collections",
]

actor_partitions = DynamicPartitionsDefinition(name=ACTORS_PARTITIONS)
"""Actor DIDs, added by the discovery sensor (``instance.add_dynamic_partitions``)."""


def range_request(  # the rectangle's corners, then what to run
    first: tuple[str, str],
    last: tuple[str, str],
    keys: Sequence[AssetKey],
    *,
    run_key: str | None,
    job_name: str | None,
    tags: Mapping[str, str] | None = None,
) -> RunRequest:
    """One run over the partitions from ``first`` to ``last`` (each ``(did, collection)``).

    A partition range runs as one run (each actor fetched once). With ``job_name`` the
    run is that job's (all its assets); else an asset selection of ``keys``.
    """
    range_tags = {
        "dagster/asset_partition_range_start": str(partition_key(*first)),
        "dagster/asset_partition_range_end": str(partition_key(*last)),
        **(tags or {}),
    }
    if job_name is not None:
        return RunRequest(run_key=run_key, job_name=job_name, tags=range_tags)
    return RunRequest(run_key=run_key, asset_selection=list(keys), tags=range_tags)


def tracked_collections(collections: Iterable[str] | None = None) -> tuple[str, ...]:
    """The record NSIDs to track: the given ones (checked) or every Layers record type.

    Raises:
        ConfigError: a name is not a known Layers record type.
    """
    from lairs_etl.records import record_types  # heavy: the generated models

    known = record_types()
    if collections is None:
        return known
    chosen = tuple(dict.fromkeys(str(Nsid(c)) for c in collections))
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ConfigError(f"not Layers record types: {', '.join(unknown)}")
    return chosen


def build_partitions(collections: Sequence[str]) -> MultiPartitionsDefinition:
    """``actor`` (dynamic DIDs) x ``collection`` (static NSIDs)."""
    return MultiPartitionsDefinition(
        {
            ACTOR_DIMENSION: actor_partitions,
            COLLECTION_DIMENSION: StaticPartitionsDefinition(list(collections)),
        }
    )


def partition_key(did: str, collection: str) -> MultiPartitionKey:
    """The partition key of one actor x collection."""
    return MultiPartitionKey({ACTOR_DIMENSION: did, COLLECTION_DIMENSION: collection})


def split_key(key: str) -> tuple[str, str]:
    """``(did, collection)`` of a partition key (a ``MultiPartitionKey`` or its string)."""
    if isinstance(key, MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims[ACTOR_DIMENSION], dims[COLLECTION_DIMENSION]
    did, _, collection = key.partition("|")  # dimensions sort: actor, then collection
    return did, collection


@dataclass(frozen=True, slots=True)
class PartitionOutcome:
    """One actor x collection partition of a run: its actor's outcome and its collection's."""

    key: str
    actor: ActorSync
    collection: CollectionSync

    @property
    def ok(self) -> bool:
        """Whether the partition's actor did not fail."""
        return self.actor.ok

    @property
    def name(self) -> str:
        """``<did>|<collection>``, as the checks list failing partitions."""
        return f"{self.actor.did or self.actor.actor}|{self.collection.collection}"
