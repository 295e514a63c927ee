"""The lake files of what a sync just committed, from the records of the same pass.

:class:`PassSource` is the commit as the views read it (a
:class:`~lairs_etl.views.source.ViewSource`): an actor's records come from memory, with
the verdicts the pass already reached (nothing is read back or validated twice), and
only what the pass did not fetch (the unchanged collections of an incremental or
partial sync, every other actor when a schema change rewrites the whole lake) comes
from the repository. :func:`write_lake` then rewrites exactly the partitions that
changed, through the same :func:`~lairs_etl.views.materialize` that ``lairs-etl
materialize`` runs, so both write the same bytes for the same commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import LairsError
from lairs_etl.records import Diagnostic
from lairs_etl.repo.repository import Repository
from lairs_etl.views import (
    CatalogChoice,
    Manifest,
    MaterializeSummary,
    PartitionPatch,
    RepositorySource,
    SourceRecord,
    SourceRefs,
    materialize,
    read_manifest,
)

__all__ = ["HeldActor", "HeldRecord", "PassSource", "decoded_records", "lake_holds", "write_lake"]


class HeldRecord(NamedTuple):
    """One record of the pass as the lake writer needs it: its bytes, not its value.

    The value is decoded when its collection's partition is built (one collection at a
    time), so the pass holds encoded records only.
    """

    rkey: str
    cid: Cid
    block: bytes
    diagnostics: tuple[Diagnostic, ...] | None


@dataclass(slots=True)
class HeldActor:
    """One actor's records as the pass holds them, by collection, in rkey order.

    ``complete``: the pass holds every record of the actor at the commit (a full sync of
    every tracked collection); else only the collections in ``records`` are whole.
    ``changed``: the collections whose partitions must be rewritten (None: all).
    ``patches``: for an incremental sync, how each changed collection's partition
    changed since ``base_root`` (the actor's tree before the sync); used only when the
    lake's partitions are that state's.
    """

    complete: bool
    records: dict[str, list[HeldRecord]] = field(default_factory=dict)
    changed: frozenset[str] | None = None
    patches: dict[str, PartitionPatch] = field(default_factory=dict)
    base_root: Cid | None = None


class PassSource:
    """The commit a sync just made, as the views read it (see the module docstring)."""

    def __init__(
        self, repository: Repository, commit: str, held: Mapping[str, HeldActor], branch: str | None = None
    ) -> None:
        self._fallback = RepositorySource(repository, commit)
        self._commit = commit
        self._held = held
        self._branch = branch

    @property
    def commit(self) -> str:
        """The commit the pass made."""
        return self._commit

    def refs(self) -> SourceRefs:
        """The branch the pass committed to, and the tags naming the commit."""
        found = self._fallback.refs()
        return SourceRefs(self._branch or found.branch, found.tags)

    def actors(self) -> Sequence[str]:
        """Every actor at the commit, sorted (a full rewrite needs them all)."""
        return self._fallback.actors()

    def patch(self, did: str, collection: str) -> PartitionPatch | None:
        """The incremental change of one partition, when the pass has it."""
        held = self._held.get(did)
        return None if held is None else held.patches.get(collection)

    def records(self, did: str, collections: Collection[str] | None = None) -> Iterable[SourceRecord]:
        """``did``'s records (only ``collections`` when given), by collection then rkey."""
        held = self._held.get(did)
        if held is None:
            return self._fallback.records(did, collections)
        if collections is not None and all(c in held.records for c in collections):
            return decoded_records(did, held, sorted(collections))
        if held.complete and collections is None:
            return decoded_records(did, held, sorted(held.records))
        return self._merged(held, did, collections)

    def _merged(
        self, held: HeldActor, did: str, collections: Collection[str] | None
    ) -> Iterator[SourceRecord]:
        from_memory = sorted(c for c in held.records if collections is None or c in collections)
        stored = (r for r in self._fallback.records(did, collections) if r.collection not in from_memory)
        merged = sorted(
            [*stored, *decoded_records(did, held, from_memory)], key=lambda r: (r.collection, r.rkey)
        )
        yield from merged


def decoded_records(did: str, held: HeldActor, collections: Sequence[str]) -> Iterator[SourceRecord]:
    """The held records of ``collections`` as the views read them, decoded as they go."""
    decode = cbor.decode_json_form
    for collection in collections:
        for rkey, cid, block, diagnostics in held.records[collection]:
            value = decode(block)
            yield SourceRecord(
                did=did,
                collection=collection,
                rkey=rkey,
                cid=cid.encode(),
                value=value if isinstance(value, dict) else None,
                size=len(block),
                diagnostics=diagnostics,
            )


def write_lake(
    repository: Repository,
    commit: str,
    held: Mapping[str, HeldActor],
    lake_url: str,
    *,
    storage_options: Mapping[str, object] | None = None,
    catalog: CatalogChoice | None = None,
    branch: str | None = None,
) -> MaterializeSummary:
    """Rewrite the lake partitions the pass changed, at ``commit`` (tables registered in ``catalog``).

    Raises:
        ViewsError: the lake refused a read or write (per-actor failures are in the
            summary's ``failed`` instead).
    """
    manifest = read_manifest(lake_url, storage_options)
    for did, actor in held.items():
        if actor.patches and not lake_holds(repository, manifest, did, actor.base_root):
            actor.patches = {}  # the lake lags behind the sync's base: rebuild those partitions
    source = PassSource(repository, commit, held, branch)
    scope = {did: actor.changed for did, actor in held.items()}
    return materialize(source, lake_url, storage_options=storage_options, dids=scope, catalog=catalog)


def lake_holds(repository: Repository, manifest: Manifest | None, did: str, root: Cid | None) -> bool:
    """Whether the lake's partitions of ``did`` were written from its tree ``root``.

    The manifest names the commit each actor's partitions come from; the actor's tree
    at that commit must be ``root`` (a patch's base, or the head's tree for a lake that
    should already be up to date). Counts alone cannot tell: an edit keeps them.
    """
    written_at = None if manifest is None else manifest.actor_commits.get(did)
    if written_at is None or root is None:
        return False
    try:
        state = repository.actors(written_at).get(did)
    except LairsError:
        return False  # the commit the lake names is not in this repository
    return state is not None and state.root == root
