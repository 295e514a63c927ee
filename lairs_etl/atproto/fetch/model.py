"""What a fetch returns: verified records and a summary of how they were obtained.

A :class:`FetchResult` is built only after every check of its mode passed, so holding
one means its records may be used. ``authenticated`` says whether they are also proven
to come from the actor: the ``car`` and ``tree`` modes check the commit signature
against the actor's DID-document key; the ``records`` mode only recomputes each
record's CID (integrity against transport damage, not proof of authorship: the PDS
could serve any record it likes).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import AtUri, Did, Nsid, is_nsid
from lairs_etl.atproto.xrpc import JsonValue

__all__ = [
    "CollectionFilter",
    "FetchMode",
    "FetchResult",
    "FetchedRecord",
    "JsonValue",
    "ResolvedMode",
]

FetchMode = Literal["auto", "car", "tree", "records"]
ResolvedMode = Literal["car", "tree", "records", "firehose"]
"""How records were obtained; ``firehose``: proven commit by commit from the event stream."""


@dataclass(frozen=True, slots=True)
class FetchedRecord:
    """One record as the actor's repository holds it.

    ``block`` is its DAG-CBOR encoding, which hashes to ``cid`` and was checked to
    decode when it was fetched. ``value`` decodes it again on each access into the
    atproto JSON form (``$link``, ``$bytes``, blob refs), exactly as ``listRecords``
    shows it. Only the bytes are held because decoded values take six times more:
    100,000 fetched records held 530 MB as values, 85 MB as blocks. Keep a value you
    use more than once.
    """

    uri: AtUri
    cid: Cid
    block: bytes = field(repr=False)

    @property
    def value(self) -> JsonValue:
        """The record in atproto JSON form, decoded from :attr:`block`."""
        value: JsonValue = cbor.decode_json_form(self.block)
        return value


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one actor's fetch.

    ``records`` holds every tracked record for a full fetch; for an incremental one
    (``since`` set) only those created or changed after ``since``, with ``deleted``
    naming the records gone since then. ``rev``, ``commit`` and ``data`` (the MST root)
    are the verified commit's; the ``records`` mode has no verified commit, so they are
    ``None`` there. ``bytes_transferred`` counts response bodies as received.

    ``tree`` holds the node blocks of ``data``'s MST when the fetch walked and verified
    all of it and every leaf is among ``records`` (a full ``car`` fetch of a repository
    whose collections are all tracked); empty otherwise. A mirror adopts these nodes
    rather than build the same tree again: a verified MST is the one canonical tree of
    its keys.
    """

    did: Did
    mode: ResolvedMode
    rev: str | None
    commit: Cid | None
    data: Cid | None
    records: tuple[FetchedRecord, ...]
    deleted: tuple[AtUri, ...] = ()
    since: str | None = None
    bytes_transferred: int = 0
    seconds: float = 0.0
    verified: bool = True
    authenticated: bool = True
    tree: tuple[tuple[Cid, bytes], ...] = field(default=(), repr=False)

    def summary(self) -> dict[str, object]:
        """A flat, JSON-ready description for logs, the CLI and Dagster metadata."""
        return {
            "did": str(self.did),
            "mode": self.mode,
            "rev": self.rev,
            "commit": self.commit.encode() if self.commit is not None else None,
            "data": self.data.encode() if self.data is not None else None,
            "records": len(self.records),
            "deleted": len(self.deleted),
            "since": self.since,
            "bytes": self.bytes_transferred,
            "seconds": round(self.seconds, 3),
            "verified": self.verified,
            "authenticated": self.authenticated,
        }


@dataclass(frozen=True, slots=True)
class CollectionFilter:
    """Which collections a fetch tracks: exact NSIDs and/or namespace prefixes.

    A prefix such as ``pub.layers.`` tracks every collection under it. ``mst_prefixes``
    are the MST key prefixes (``collection/``) that can hold tracked records, which is
    what lets the tree mode skip the rest of the tree.
    """

    nsids: frozenset[Nsid] = frozenset()
    namespaces: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[str]) -> CollectionFilter:
        """Parse NSIDs and namespace prefixes (ending in ``.`` or ``.*``).

        Raises:
            InvalidIdentifier: an entry is neither an NSID nor a namespace prefix.
        """
        nsids: set[Nsid] = set()
        namespaces: set[str] = set()
        for raw in entries:
            entry = raw[:-1] if raw.endswith(".*") else raw
            if entry.endswith("."):
                Nsid(entry + "x.y" if entry.count(".") < 2 else entry + "x")  # syntax check
                namespaces.add(entry)
            else:
                nsids.add(Nsid(entry))
        return cls(frozenset(nsids), frozenset(namespaces))

    def __contains__(self, collection: object) -> bool:
        if not isinstance(collection, str):
            return False
        return collection in self.nsids or any(collection.startswith(ns) for ns in self.namespaces)

    def mst_prefixes(self) -> list[str]:
        """Key prefixes, most general first and with redundant ones dropped."""
        prefixes = sorted(self.namespaces) + sorted(f"{nsid}/" for nsid in self.nsids)
        return [p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes)]

    def select(self, collections: Collection[str]) -> list[Nsid]:
        """The tracked collections among ``collections`` (as ``describeRepo`` lists them).

        A name that is not a valid NSID is left out: it comes from a server and cannot
        name a collection a verified fetch would accept anyway.
        """
        return sorted(Nsid(c) for c in collections if c in self and is_nsid(c))

    def matches_key(self, key: str) -> bool:
        """Whether an MST key (``collection/rkey``) belongs to a tracked collection."""
        collection, _, _ = key.partition("/")
        return collection in self

    def keep(self, leaves: Iterable[tuple[str, Cid]]) -> list[tuple[str, Cid]]:
        """The MST leaves of tracked collections (deciding once per collection).

        Leaves usually come in key order, so a collection's keys are consecutive: a
        ``startswith`` on the current ``collection/`` prefix decides most of them.
        """
        decided: dict[str, bool] = {}
        kept = []
        prefix = "/"  # no key starts so: the first leaf takes the slow path
        tracked = False
        for leaf in leaves:
            key = leaf[0]
            if not key.startswith(prefix):
                collection = key.partition("/")[0]
                prefix = collection + "/"
                found = decided.get(collection)
                if found is None:
                    found = decided[collection] = collection in self
                tracked = found
            if tracked:
                kept.append(leaf)
        return kept
