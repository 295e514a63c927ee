"""What the views are built from: the records of one repository revision, actor by actor.

:class:`ViewSource` is the small protocol the materializer reads; :class:`RepositorySource`
adapts a :class:`~lairs_etl.repo.repository.Repository` revision to it and
:class:`MemorySource` holds records in memory (tests, benchmarks, other producers).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import JsonValue

from lairs_etl.errors import CodecError
from lairs_etl.records import Diagnostic

if TYPE_CHECKING:
    from lairs_etl.repo.repository import Repository

__all__ = ["MemorySource", "PartitionPatch", "RepositorySource", "SourceRecord", "ViewSource"]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One committed record: address, CID, JSON-form value and its DAG-CBOR size.

    ``value`` is ``None`` when the stored block does not decode (then the record is
    reported invalid, never dropped silently). ``diagnostics`` is the verdict when the
    producer already validated the record (empty: valid), so it is not validated twice;
    ``None`` lets the views validate it.
    """

    did: str
    collection: str
    rkey: str
    cid: str
    value: Mapping[str, JsonValue] | None
    size: int
    diagnostics: tuple[Diagnostic, ...] | None = None


@dataclass(frozen=True, slots=True)
class PartitionPatch:
    """How one (actor, collection) partition changed since the lake's copy of it.

    ``removed`` are the rkeys deleted or replaced (the lake's rows for them go),
    ``removed_bytes`` the DAG-CBOR size of the records they named, ``put`` the records
    created or replaced, by rkey, with their verdicts. A source offers a patch only when
    it knows the lake's partition holds the state the patch starts from.
    """

    removed: frozenset[str]
    removed_bytes: int
    put: Sequence[SourceRecord]


@dataclass(frozen=True, slots=True)
class SourceRefs:
    """The repository's names for a source's commit: the branch it is read from, its tags.

    They travel into the lake's snapshot summaries, and each tag becomes an Iceberg tag
    once the lake holds the commit throughout.
    """

    branch: str | None = None
    tags: tuple[str, ...] = ()


class ViewSource(Protocol):
    """A revision: its commit id and its records, one actor at a time."""

    @property
    def commit(self) -> str:
        """The revision's commit id (travels into every file's metadata)."""
        ...

    def refs(self) -> SourceRefs:
        """The branch and tags naming :attr:`commit` (none for a source outside a repository)."""
        ...

    def actors(self) -> Sequence[str]:
        """The DIDs holding records, sorted."""
        ...

    def records(self, did: str, collections: Collection[str] | None = None) -> Iterable[SourceRecord]:
        """``did``'s records (only ``collections`` when given), by collection then rkey."""
        ...

    def patch(self, did: str, collection: str) -> PartitionPatch | None:
        """The change to the lake's partition, when the source knows it.

        None: the partition is rebuilt from :meth:`records`.
        """
        ...


@dataclass(frozen=True)
class MemorySource:
    """Records held in memory; :meth:`records` returns them sorted like a repository."""

    commit: str
    items: Sequence[SourceRecord] = field(default=())
    names: SourceRefs = field(default_factory=SourceRefs)

    def refs(self) -> SourceRefs:
        """The names given at construction (none by default)."""
        return self.names

    def actors(self) -> Sequence[str]:
        """The DIDs holding records, sorted."""
        return sorted({item.did for item in self.items})

    def records(self, did: str, collections: Collection[str] | None = None) -> Iterable[SourceRecord]:
        """``did``'s records (only ``collections`` when given), by collection then rkey."""
        chosen = [
            item
            for item in self.items
            if item.did == did and (collections is None or item.collection in collections)
        ]
        return sorted(chosen, key=lambda item: (item.collection, item.rkey))

    def patch(self, did: str, collection: str) -> PartitionPatch | None:
        """Never: every partition is built from :meth:`records`."""
        return None


class RepositorySource:
    """One revision of a corpus repository as a :class:`ViewSource`."""

    def __init__(self, repo: Repository, rev: str) -> None:
        self._repo = repo
        self._rev = repo.resolve(rev)
        self._branch = rev if rev in repo.branches() else None

    @classmethod
    def open(
        cls, url: str, rev: str, storage_options: Mapping[str, object] | None = None
    ) -> RepositorySource:
        """The revision ``rev`` (branch, tag or commit) of the repository at ``url``.

        Raises:
            NotFoundError: ``rev`` names nothing.
            RepositoryError: the repository cannot be opened.
        """
        from lairs_etl.repo.repository import Repository

        return cls(Repository.open(url, storage_options), rev)

    @property
    def commit(self) -> str:
        """The revision's commit CID."""
        return self._rev.encode()

    def refs(self) -> SourceRefs:
        """The branch the revision was named by (else the default branch, when at its head), its tags."""
        branch = self._branch
        if branch is None and self._repo.head() == self._rev:
            branch = self._repo.default_branch
        tags = tuple(sorted(name for name, cid in self._repo.tags().items() if cid == self._rev))
        return SourceRefs(branch, tags)

    def actors(self) -> Sequence[str]:
        """The DIDs holding records at the revision, sorted."""
        return sorted(self._repo.actors(self._rev))

    def patch(self, did: str, collection: str) -> PartitionPatch | None:
        """Never: a revision says what is, not what changed since the lake was written."""
        return None

    def records(self, did: str, collections: Collection[str] | None = None) -> Iterator[SourceRecord]:
        """``did``'s records (only ``collections`` when given), by collection then rkey."""
        for stored in self._repo.iter_records(self._rev, dids=[did], collections=collections):
            uri = stored.uri
            if uri.collection is None or uri.rkey is None:
                continue  # the repository only stores full record addresses
            try:
                value = stored.value()
            except CodecError:
                value = None
            yield SourceRecord(
                did=str(uri.did),
                collection=str(uri.collection),
                rkey=str(uri.rkey),
                cid=stored.cid.encode(),
                value=value if isinstance(value, dict) else None,
                size=len(stored.block),
            )
