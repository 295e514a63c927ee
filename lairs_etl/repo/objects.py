"""Commit objects and the actor map they point to, as DAG-CBOR blocks.

A commit is one block::

    {"type": "lairs-etl/commit", "version": 1, "actors": <link>, "parents": [<link>…],
     "message": str, "author": str, "time": RFC 3339 str}

``actors`` links to an *actor map*: a root block of 256 shard links (shard = first
byte of SHA-256 of the DID) and shard blocks mapping DID → actor state. Every commit
therefore names the full state of every actor (reading a tag needs no history walk),
while a commit that touches a few actors writes only the root and their shards: every
other shard link is carried over from the parent unchanged. Reading one actor's state
costs two block reads; reading all of them, the root plus one read per non-empty shard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockSource
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.errors import CodecError, RepositoryCorruptError

__all__ = [
    "ActorState",
    "CollectionState",
    "Commit",
    "build_actor_map",
    "lookup_actor",
    "read_actor_map",
]

_COMMIT_TYPE = "lairs-etl/commit"
_ACTORS_TYPE = "lairs-etl/actors"
_SHARDS = 256


@dataclass(frozen=True, slots=True)
class CollectionState:
    """What is known of one collection of an actor: the PDS rev it was synced at, its counts.

    Kept per collection so that syncing some of an actor's collections never erases what
    is known of the others (an actor-wide rev would have to be unset by a partial sync).
    """

    rev: str | None = None
    valid_count: int | None = None
    invalid_count: int | None = None

    def to_ipld(self) -> dict[str, object]:
        """The DAG-CBOR map (absent optionals are omitted)."""
        raw = {"rev": self.rev, "validCount": self.valid_count, "invalidCount": self.invalid_count}
        return {k: v for k, v in raw.items() if v is not None}

    @classmethod
    def from_ipld(cls, raw: object) -> CollectionState:
        """Parse :meth:`to_ipld`'s form.

        Raises:
            RepositoryCorruptError: not that shape.
        """
        if not isinstance(raw, dict) or not set(raw) <= {"rev", "validCount", "invalidCount"}:
            raise RepositoryCorruptError("collection state is not a map of rev and counts")
        state = cls(raw.get("rev"), raw.get("validCount"), raw.get("invalidCount"))
        if not (
            isinstance(state.rev, str | None)
            and isinstance(state.valid_count, int | None)
            and isinstance(state.invalid_count, int | None)
        ):
            raise RepositoryCorruptError("collection state has fields of the wrong type")
        return state


@dataclass(frozen=True, slots=True)
class ActorState:
    """One actor as a commit pins it: its records' MST root and where they came from.

    ``fetched_at`` is an RFC 3339 UTC timestamp; ``lexicon_hash`` the content hash of
    the lexicon tree the records were validated against. ``pds_rev`` and the counts are
    the actor's as a whole (set when every tracked collection is at one rev);
    ``collections`` holds them per collection, as ``(nsid, state)`` pairs sorted by
    NSID. ``pds_data`` is the MST root of the PDS commit last fetched (for an
    incremental partial sync: the subtrees it names that have not changed need no fetch).
    """

    root: Cid
    fetched_at: str
    lexicon_hash: str
    pds_commit: Cid | None = None
    pds_rev: str | None = None
    valid_count: int | None = None
    invalid_count: int | None = None
    collections: tuple[tuple[str, CollectionState], ...] = ()
    pds_data: Cid | None = None

    def collection(self, nsid: str) -> CollectionState | None:
        """What is known of one collection, if anything."""
        for name, state in self.collections:
            if name == nsid:
                return state
        return None

    def to_ipld(self) -> dict[str, object]:
        """The DAG-CBOR map (absent optionals are omitted, not null)."""
        raw: dict[str, object] = {
            "root": self.root,
            "fetchedAt": self.fetched_at,
            "lexiconHash": self.lexicon_hash,
        }
        for key, value in (
            ("pdsCommit", self.pds_commit),
            ("pdsRev", self.pds_rev),
            ("validCount", self.valid_count),
            ("invalidCount", self.invalid_count),
            ("pdsData", self.pds_data),
        ):
            if value is not None:
                raw[key] = value
        if self.collections:
            raw["collections"] = {name: state.to_ipld() for name, state in self.collections}
        return raw

    @classmethod
    def from_ipld(cls, raw: object) -> ActorState:
        """Parse :meth:`to_ipld`'s form.

        Raises:
            RepositoryCorruptError: fields missing or of the wrong type.
        """
        if not isinstance(raw, dict):
            raise RepositoryCorruptError("actor state is not a map")
        collections = raw.get("collections", {})
        if not isinstance(collections, dict):
            raise RepositoryCorruptError("actor state collections are not a map")
        state = cls(
            raw.get("root"),  # type: ignore[arg-type]  # checked below
            raw.get("fetchedAt"),  # type: ignore[arg-type]
            raw.get("lexiconHash"),  # type: ignore[arg-type]
            raw.get("pdsCommit"),
            raw.get("pdsRev"),
            raw.get("validCount"),
            raw.get("invalidCount"),
            tuple(sorted((str(k), CollectionState.from_ipld(v)) for k, v in collections.items())),
            raw.get("pdsData"),
        )
        types = (
            (state.root, Cid),
            (state.fetched_at, str),
            (state.lexicon_hash, str),
            (state.pds_commit, Cid | None),
            (state.pds_rev, str | None),
            (state.valid_count, int | None),
            (state.invalid_count, int | None),
            (state.pds_data, Cid | None),
        )
        if not all(isinstance(value, kind) for value, kind in types):
            raise RepositoryCorruptError("actor state has fields of the wrong type")
        return state


@dataclass(frozen=True, slots=True)
class Commit:
    """A repository state: the actor map, its parents and who made it, when and why."""

    actors: Cid
    parents: tuple[Cid, ...]
    message: str
    author: str
    time: str
    cid: Cid = field(init=False, compare=False, repr=False)
    data: bytes = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        data = cbor.encode(
            {
                "type": _COMMIT_TYPE,
                "version": 1,
                "actors": self.actors,
                "parents": list(self.parents),
                "message": self.message,
                "author": self.author,
                "time": self.time,
            }
        )
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "cid", cid_for_dag_cbor(data))

    @classmethod
    def decode(cls, data: bytes) -> Commit:
        """Parse a commit block.

        Raises:
            RepositoryCorruptError: not a commit of a known version.
        """
        try:
            raw = cbor.decode(data)
        except CodecError as exc:
            raise RepositoryCorruptError(f"commit block does not decode: {exc.message}") from exc
        if not isinstance(raw, dict) or raw.get("type") != _COMMIT_TYPE or raw.get("version") != 1:
            raise RepositoryCorruptError("block is not a lairs-etl commit (version 1)")
        parents = raw.get("parents")
        fields = (raw.get("actors"), raw.get("message"), raw.get("author"), raw.get("time"))
        if not (isinstance(parents, list) and all(isinstance(p, Cid) for p in parents)) or not (
            isinstance(fields[0], Cid) and all(isinstance(f, str) for f in fields[1:])
        ):
            raise RepositoryCorruptError("commit block has fields of the wrong type")
        commit = cls(fields[0], tuple(parents), *fields[1:])  # type: ignore[arg-type]
        if commit.data != data:
            raise RepositoryCorruptError("commit block has unknown fields")
        return commit


def _shard(did: str) -> int:
    return hashlib.sha256(did.encode()).digest()[0]


def _decode(source: BlockSource, cid: Cid, what: str) -> object:
    try:
        return cbor.decode(source.get(cid))
    except KeyError as exc:
        raise RepositoryCorruptError(f"{what} block is missing", cid=cid.encode()) from exc
    except CodecError as exc:
        raise RepositoryCorruptError(f"{what} block does not decode", cid=cid.encode()) from exc


def _shard_links(source: BlockSource, root: Cid | None) -> list[Cid | None]:
    if root is None:
        return [None] * _SHARDS
    raw = _decode(source, root, "actor map")
    shards = raw.get("shards") if isinstance(raw, dict) and raw.get("type") == _ACTORS_TYPE else None
    if not isinstance(shards, list) or len(shards) != _SHARDS:
        raise RepositoryCorruptError("actor map root is malformed", cid=root.encode())
    return shards


def _shard_map(source: BlockSource, link: Cid | None) -> dict[str, object]:
    if link is None:
        return {}
    raw = _decode(source, link, "actor map shard")
    if not isinstance(raw, dict):
        raise RepositoryCorruptError("actor map shard is not a map", cid=link.encode())
    return raw


def build_actor_map(
    source: BlockSource, base: Cid | None, changes: Mapping[str, ActorState | None]
) -> tuple[Cid, dict[Cid, bytes]]:
    """Apply ``changes`` (DID → new state, or ``None`` to drop the actor) to the map at ``base``.

    Returns the new root and the blocks to store (the root and the changed shards only).

    Raises:
        RepositoryCorruptError: the base map's blocks are missing or malformed.
    """
    links = _shard_links(source, base)
    by_shard: dict[int, dict[str, ActorState | None]] = {}
    for did, state in changes.items():
        by_shard.setdefault(_shard(did), {})[did] = state
    blocks: dict[Cid, bytes] = {}
    for index, updates in by_shard.items():
        entries = _shard_map(source, links[index])
        for did, state in updates.items():
            if state is None:
                entries.pop(did, None)
            else:
                entries[did] = state.to_ipld()
        if entries:
            data = cbor.encode(entries)
            links[index] = cid_for_dag_cbor(data)
            blocks[links[index]] = data  # type: ignore[index]  # just assigned a Cid
        else:
            links[index] = None
    data = cbor.encode({"type": _ACTORS_TYPE, "shards": links})
    root = cid_for_dag_cbor(data)
    blocks[root] = data
    return root, blocks


def read_actor_map(source: BlockSource, root: Cid) -> dict[str, ActorState]:
    """Every actor's state in the map at ``root``.

    Raises:
        RepositoryCorruptError: blocks missing or malformed.
    """
    links = [link for link in _shard_links(source, root) if link is not None]
    fetched = source.get_many(links)
    out: dict[str, ActorState] = {}
    for link in links:
        if link not in fetched:
            raise RepositoryCorruptError("actor map shard is missing", cid=link.encode())
        raw = cbor.decode(fetched[link])
        if not isinstance(raw, dict):
            raise RepositoryCorruptError("actor map shard is not a map", cid=link.encode())
        out.update((did, ActorState.from_ipld(state)) for did, state in raw.items())
    return dict(sorted(out.items()))


def lookup_actor(source: BlockSource, root: Cid, did: str) -> ActorState | None:
    """One actor's state (two block reads), or ``None`` if the map does not have it.

    Raises:
        RepositoryCorruptError: blocks missing or malformed.
    """
    raw = _shard_map(source, _shard_links(source, root)[_shard(did)]).get(did)
    return None if raw is None else ActorState.from_ipld(raw)
