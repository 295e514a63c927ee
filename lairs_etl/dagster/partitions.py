"""The partitions of the per-actor assets: actors (or actor shards) x the tracked collections.

Two layouts, one :class:`PartitionLayout`:

* ``actor`` (the default): one partition per actor DID x collection. Every actor's
  status is one partition's in the UI; the asset grows by 26 partitions per actor and
  passes Dagster's guidance of 100,000 partitions per asset at 3,846 actors.
* ``actor_shard``: the actors are hashed into a fixed number of shards, one partition
  per shard x collection (256 x 26 = 6,656 whatever the actor count). The tracked actors
  stay in the ``lairs_actors`` dynamic partitions set (the registry the discovery sensor
  fills), per-actor status lives in the warehouse (``lairs_actor_collection_stats``) and
  in each run's metadata, and a run can name the actors it refreshes (the change sensor
  does) with the :data:`~lairs_etl.dagster.constants.ACTORS_TAG` run tag.
"""

from __future__ import annotations

import hashlib
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
from lairs_etl.dagster.constants import (
    ACTOR_DIMENSION,
    ACTOR_SHARD_DIMENSION,
    ACTORS_PARTITIONS,
    COLLECTION_DIMENSION,
)
from lairs_etl.errors import ConfigError
from lairs_etl.sync import ActorSync, CollectionSync

__all__ = [
    "PartitionLayout",
    "PartitionOutcome",
    "actor_partitions",
    "build_partitions",
    "partition_key",
    "range_request",
    "shard_of",
    "tracked_collections",
]

actor_partitions = DynamicPartitionsDefinition(name=ACTORS_PARTITIONS)
"""Actor DIDs, added by the discovery sensor (``instance.add_dynamic_partitions``)."""


def shard_of(did: str, shards: int) -> str:
    """The shard holding ``did``: a stable hash (SHA-256), zero-padded to sort as numbers."""
    digest = hashlib.sha256(did.encode()).digest()
    width = len(str(shards - 1))
    return f"{int.from_bytes(digest[:8], 'big') % shards:0{width}d}"


@dataclass(frozen=True, slots=True)
class PartitionLayout:
    """How actors map to partitions: one per actor (``shards`` None) or one per actor shard."""

    collections: tuple[str, ...]
    shards: int | None = None

    def __post_init__(self) -> None:
        if self.shards is not None and not 1 <= self.shards <= 10_000:
            raise ConfigError(f"actor shards must be between 1 and 10000, not {self.shards}")

    @property
    def sharded(self) -> bool:
        """Whether partitions are actor shards (actors come from the registry)."""
        return self.shards is not None

    def shard_keys(self) -> list[str]:
        """Every shard's key, in order (none in the actor layout)."""
        if self.shards is None:
            return []
        width = len(str(self.shards - 1))
        return [f"{n:0{width}d}" for n in range(self.shards)]

    def definition(self) -> MultiPartitionsDefinition:
        """The multi-asset's partitions: ``actor`` or ``actor_shard``, x ``collection``."""
        if self.shards is None:
            return build_partitions(self.collections)
        return MultiPartitionsDefinition(
            {
                ACTOR_SHARD_DIMENSION: StaticPartitionsDefinition(self.shard_keys()),
                COLLECTION_DIMENSION: StaticPartitionsDefinition(list(self.collections)),
            }
        )

    def primary(self, did: str) -> str:
        """The first dimension's key of ``did``'s partitions: the DID, or its shard."""
        return did if self.shards is None else shard_of(did, self.shards)

    def key(self, primary: str, collection: str) -> MultiPartitionKey:
        """The partition of one actor (or shard) x collection."""
        dimension = ACTOR_DIMENSION if self.shards is None else ACTOR_SHARD_DIMENSION
        return MultiPartitionKey({dimension: primary, COLLECTION_DIMENSION: collection})

    def split(self, key: str) -> tuple[str, str]:
        """``(actor or shard, collection)`` of a partition key (or its string)."""
        if isinstance(key, MultiPartitionKey):
            dims = key.keys_by_dimension
            dimension = ACTOR_DIMENSION if self.shards is None else ACTOR_SHARD_DIMENSION
            return dims[dimension], dims[COLLECTION_DIMENSION]
        # Dimensions sort by name: actor (or actor_shard), then collection.
        primary, _, collection = key.partition("|")
        return primary, collection

    def primaries(self, actors: Sequence[str]) -> list[str]:
        """The first dimension's keys covering ``actors``: themselves, or every shard."""
        return self.shard_keys() if self.sharded else list(actors)

    def range_request(  # the rectangle's corners, then what to run
        self,
        first: tuple[str, str],
        last: tuple[str, str],
        keys: Sequence[AssetKey],
        *,
        run_key: str | None,
        job_name: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> RunRequest:
        """One run over the partitions from ``first`` to ``last`` (each ``(primary, collection)``).

        A partition range runs as one run (each actor fetched once). With ``job_name`` the
        run is that job's (all its assets); else an asset selection of ``keys``.
        """
        range_tags = {
            "dagster/asset_partition_range_start": str(self.key(*first)),
            "dagster/asset_partition_range_end": str(self.key(*last)),
            **(tags or {}),
        }
        if job_name is not None:
            return RunRequest(run_key=run_key, job_name=job_name, tags=range_tags)
        return RunRequest(run_key=run_key, asset_selection=list(keys), tags=range_tags)


_ACTOR_LAYOUT = PartitionLayout(())


def range_request(  # the rectangle's corners, then what to run
    first: tuple[str, str],
    last: tuple[str, str],
    keys: Sequence[AssetKey],
    *,
    run_key: str | None,
    job_name: str | None,
    tags: Mapping[str, str] | None = None,
) -> RunRequest:
    """:meth:`PartitionLayout.range_request` in the actor layout (each corner ``(did, collection)``)."""
    return _ACTOR_LAYOUT.range_request(first, last, keys, run_key=run_key, job_name=job_name, tags=tags)


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
    """The partition key of one actor x collection (the actor layout's)."""
    return _ACTOR_LAYOUT.key(did, collection)


@dataclass(frozen=True, slots=True)
class PartitionOutcome:
    """One actor x collection partition of a run: its actor's outcome and its collection's."""

    key: str
    actor: ActorSync
    collection: CollectionSync
    refreshed: bool = True
    """False for a shard's actor the run did not refresh: counted as last committed."""

    @property
    def ok(self) -> bool:
        """Whether the partition's actor did not fail."""
        return self.actor.ok

    @property
    def name(self) -> str:
        """``<did>|<collection>``, as the checks list failing partitions."""
        return f"{self.actor.did or self.actor.actor}|{self.collection.collection}"
