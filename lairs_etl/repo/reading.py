"""Reading records out of a resolved revision: one, a collection, or everything.

Records come out in MST key order per actor (actors sorted by DID), their blocks
fetched in batches so a walk over a collection on S3 costs a few coalesced ranged
reads per batch rather than one request per record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockSource
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst import NodeLoader, lookup, walk_leaves
from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.errors import NotFoundError, RepositoryCorruptError
from lairs_etl.repo.objects import ActorState
from lairs_etl.repo.overlay import OverlayBlocks, prefetch_paths, prefetch_tree

if TYPE_CHECKING:  # the alias lives with the XRPC client, whose import pulls in httpx
    from lairs_etl.atproto.xrpc import JsonValue

__all__ = ["StoredRecord", "iter_actor_records", "read_many", "read_one"]

_BATCH = 2048


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record at a revision: its address, CID and DAG-CBOR bytes."""

    uri: AtUri
    cid: Cid
    block: bytes = field(repr=False)

    def value(self) -> JsonValue:
        """The record in atproto JSON form (``$link``, ``$bytes``), as ``getRecord`` shows it."""
        value: JsonValue = cbor.decode_json_form(self.block)
        return value


def read_one(source: BlockSource, states: Mapping[str, ActorState], uri: AtUri) -> StoredRecord:
    """The record at ``uri`` (reads one MST node per layer, then the record).

    Raises:
        ConfigError / InvalidIdentifier: ``uri`` does not name a record by DID.
        NotFoundError: no such actor or record at this revision.
        RepositoryCorruptError: the record's block is missing.
    """
    did, collection, rkey = uri.did, uri.collection, uri.rkey
    if collection is None or rkey is None:
        raise NotFoundError(f"{uri} does not name a record", uri=str(uri))
    state = states.get(did)
    if state is None:
        raise NotFoundError("actor not in this revision", actor=did, uri=str(uri))
    cid = lookup(state.root, f"{collection}/{rkey}", source.get, verify_hashes=False)
    if cid is None:
        raise NotFoundError("no such record at this revision", uri=str(uri))
    return StoredRecord(uri, cid, _block(source, cid, uri))


def read_many(source: BlockSource, state: ActorState, uris: Collection[AtUri]) -> dict[AtUri, StoredRecord]:
    """The records of one actor at ``uris`` that exist (absent ones are left out).

    The nodes on every path are read a level at a time and the records in one batch:
    a few reads for a hundred records, where :func:`read_one` each would cost a read
    per node per record.

    Raises:
        RepositoryCorruptError: a record block is missing.
    """
    keys = {f"{uri.collection}/{uri.rkey}": uri for uri in uris if uri.collection and uri.rkey}
    nodes = OverlayBlocks(source, prefetch_paths(source, state.root, keys))
    loader = NodeLoader(nodes.get, verify_hashes=False)  # shared: the upper layers decode once
    found = {uri: lookup(state.root, key, loader) for key, uri in keys.items()}
    cids = {uri: cid for uri, cid in found.items() if cid is not None}
    blocks = source.get_many(cids.values())
    out = {}
    for uri, cid in cids.items():
        data = blocks.get(cid)
        if data is None:
            raise RepositoryCorruptError("record block is missing", uri=str(uri), cid=cid.encode())
        out[uri] = StoredRecord(uri, cid, data)
    return out


def _block(source: BlockSource, cid: Cid, uri: AtUri) -> bytes:
    try:
        return source.get(cid)
    except KeyError as exc:
        raise RepositoryCorruptError("record block is missing", uri=str(uri), cid=cid.encode()) from exc


def iter_actor_records(
    source: BlockSource, did: str, state: ActorState, collections: Collection[str] | None = None
) -> Iterator[StoredRecord]:
    """Every record of one actor, optionally only from ``collections``, in key order.

    Raises:
        MstStructureError: the tree is damaged.
        RepositoryCorruptError: a record block is missing.
    """
    actor = Did(did)
    prefixes = None if collections is None else [f"{Nsid(c)}/" for c in sorted(collections)]
    if prefixes == []:
        return
    # A whole tree is read level by level in a few batched reads; a filtered walk reads
    # only the nodes whose key range can hold the collections, one at a time.
    get = source.get if prefixes is not None else prefetch_tree(source, state.root).__getitem__
    leaves = walk_leaves(state.root, get, prefixes=prefixes, verify_hashes=False)
    batch: list[tuple[str, Cid]] = []
    for leaf in leaves:
        batch.append(leaf)
        if len(batch) >= _BATCH:
            yield from _emit(source, actor, batch)
            batch = []
    yield from _emit(source, actor, batch)


def _emit(source: BlockSource, did: Did, batch: list[tuple[str, Cid]]) -> Iterator[StoredRecord]:
    blocks = source.get_many(cid for _, cid in batch)
    for key, cid in batch:
        uri = AtUri.for_path(did, key)
        data = blocks.get(cid)
        if data is None:
            raise RepositoryCorruptError("record block is missing", uri=str(uri), cid=cid.encode())
        yield StoredRecord(uri, cid, data)
