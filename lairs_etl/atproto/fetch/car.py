"""The ``car`` mode: the whole repository by ``sync.getRepo``, verified end to end.

The CAR is read block by block while it downloads (never held whole in memory: see
:mod:`._pipeline`), each block hash-checked against its CID and put in a block store:
the caller's (persistent, for incremental fetches), else one that stays in memory for
small repositories and moves to a temporary SQLite file past :data:`MEMORY_LIMIT`.
The root must be a commit by the actor signed with the DID document's key, and the
full MST under it is walked with its structure checked, so a record the tree does not
commit to cannot slip in.

Incremental (``since``): ``getRepo?since=<rev>`` returns only the blocks first written
after that rev and lists no deletions. Merged into the store that holds the earlier
fetch's blocks, the new tree is complete again; diffing it against the earlier data
root gives the records created or changed and the ones deleted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

from lairs_etl.atproto import cbor
from lairs_etl.atproto.blockstore import BlockStore
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch._mst import changed_leaves, walk_leaves
from lairs_etl.atproto.fetch._pipeline import CarPipeline
from lairs_etl.atproto.fetch._spill import SpillingBlockStore
from lairs_etl.atproto.fetch._sync import download_repo
from lairs_etl.atproto.fetch._verified import records_from_leaves, verified_commit
from lairs_etl.atproto.fetch.model import CollectionFilter, FetchResult
from lairs_etl.atproto.fetch.protocols import Client, IdentityLike
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import CarFormatError, ConfigError

__all__ = ["MEMORY_LIMIT", "fetch_car"]

MEMORY_LIMIT = 64 * 1024 * 1024
"""Bytes of blocks past which the default store moves from memory to a temporary file."""


def fetch_car(
    identity: IdentityLike,
    collections: CollectionFilter,
    *,
    client: Client,
    blockstore: BlockStore | None = None,
    since: str | None = None,
    since_data: Cid | None = None,
) -> FetchResult:
    """Download, verify and read the actor's repository.

    Raises:
        ConfigError: ``since`` without the ``blockstore`` and ``since_data`` of the
            earlier fetch.
        CarFormatError: truncated or malformed CAR, more or other roots than one commit,
            or blocks missing.
        BlockHashMismatch: a block does not hash to its CID.
        SignatureError: the commit is not signed by the actor's key.
        MstStructureError: the tree breaks the MST rules.
    """
    did = Did(identity.did)
    if since is not None and (blockstore is None or since_data is None):
        raise ConfigError("an incremental fetch needs the earlier fetch's block store and data root")
    started = time.perf_counter()
    # The collector would rescan the growing heap of decoded records and nodes again and
    # again (a third of the CPU time of a 20,000-record fetch) to find no cycles: paused
    # for the whole fetch, the reading thread included; what survives is the result.
    with (
        cbor.paused_gc(promote=True),
        _store_for(blockstore) as store,
        CarPipeline(store, walk=since_data is None, did=did) as pipeline,
    ):
        sink = cast(BinaryIO, pipeline)  # it implements the part of the file API the client uses
        size = download_repo(client, identity.pds_url, did, sink, since=since)
        root = _single_root(pipeline.result(), did)
        commit = verified_commit(identity, root, store.get_many([root]).get(root))
        early = _early_leaves(pipeline, commit.data, did)
        deleted: tuple[AtUri, ...] = ()
        tree: tuple[tuple[Cid, bytes], ...] = ()
        if early is not None:
            created = collections.keep(early)
            if len(created) == len(early) and pipeline.early is not None:  # every leaf is tracked
                walked = pipeline.early.walked
                nodes = store.get_many(walked)
                tree = tuple(nodes.items()) if len(nodes) == len(set(walked)) else ()
        else:
            created, deleted = _read(store, did, commit.data, collections, since_data)
        known = pipeline.values
        blocks = store.get_many(cid for _, cid in created if cid.cid_bytes not in known)
        prebuilt = pipeline.prebuilt.records if pipeline.prebuilt is not None and early is not None else None
        records = records_from_leaves(did, created, blocks, checked=known, prebuilt=prebuilt)
    return FetchResult(
        did=did,
        mode="car",
        rev=commit.rev,
        commit=root,
        data=commit.data,
        records=records,
        deleted=deleted,
        since=since,
        bytes_transferred=size,
        seconds=time.perf_counter() - started,
        tree=tree,
    )


@contextmanager
def _store_for(given: BlockStore | None) -> Iterator[BlockStore]:
    if given is not None:
        yield given
    else:
        with SpillingBlockStore(MEMORY_LIMIT) as store:
            yield store


def _single_root(roots: list[Cid], did: Did) -> Cid:
    if len(roots) != 1:
        raise CarFormatError(f"a repository CAR has one root, this one has {len(roots)}", actor=str(did))
    return roots[0]


def _early_leaves(pipeline: CarPipeline, data: Cid, did: Did) -> list[tuple[str, Cid]] | None:
    """The leaves the walk during the download found, now that the commit is verified."""
    early = pipeline.early
    if early is None or early.data != data:
        return None
    if early.error is not None:
        early.error.actor = early.error.actor or str(did)
        raise early.error
    return early.leaves()


def _read(
    store: BlockStore, did: Did, data: Cid, collections: CollectionFilter, since_data: Cid | None
) -> tuple[list[tuple[str, Cid]], tuple[AtUri, ...]]:
    """The tracked leaves to emit and, when diffing from ``since_data``, the deletions."""
    if since_data is None:
        return collections.keep(walk_leaves(store, data, actor=did)), ()
    changed, deleted_keys = changed_leaves(store, since_data, data, collections, actor=did)
    return changed, tuple(AtUri.for_path(did, key) for key in deleted_keys)
