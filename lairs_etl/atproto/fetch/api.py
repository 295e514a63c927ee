"""One entry point for fetching an actor's records: :func:`fetch_actor`.

Records reach the caller only inside a :class:`~lairs_etl.atproto.fetch.model.FetchResult`,
which is built after every check of the chosen mode passed: a failed check fails the
whole actor and none of its records are returned. Errors carry ``actor`` (the DID once
resolved) so a pool fetching many actors can report which one failed and go on.

Every request made for the actor draws on one :class:`~lairs_etl.atproto.limits.Budget`
(the client's ``actor_seconds`` and ``actor_bytes``), so one slow or bottomless peer
costs at most that, whatever mode it is fetched in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import get_args

from lairs_etl.atproto.blockstore import BlockStore
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.auto import choose_mode, describe_collections, sync_unsupported
from lairs_etl.atproto.fetch.car import fetch_car
from lairs_etl.atproto.fetch.model import CollectionFilter, FetchMode, FetchResult
from lairs_etl.atproto.fetch.protocols import BudgetedClient, Client, IdentityLike, Resolver
from lairs_etl.atproto.fetch.records import fetch_records
from lairs_etl.atproto.fetch.tree import fetch_tree
from lairs_etl.atproto.limits import Budget
from lairs_etl.atproto.syntax import Did
from lairs_etl.errors import ConfigError, LairsError, XrpcError

__all__ = ["DEFAULT_NAMESPACE", "default_collections", "fetch_actor"]

DEFAULT_NAMESPACE = "pub.layers."
"""Tracked when the caller names no collections."""

_MODES: tuple[str, ...] = get_args(FetchMode)


def default_collections() -> CollectionFilter:
    """The ``pub.layers.`` namespace.

    The fetch layer sits below the record registry, so it cannot list the 26 record
    types itself; callers above it (CLI, Dagster) pass the registry's NSIDs.
    """
    return CollectionFilter.of([DEFAULT_NAMESPACE])


def fetch_actor(
    actor: str,
    *,
    collections: Iterable[str] | CollectionFilter | None = None,
    mode: FetchMode = "auto",
    since: str | None = None,
    since_data: Cid | None = None,
    client: Client,
    resolver: Resolver,
    blockstore: BlockStore | None = None,
    workers: int = 4,
) -> FetchResult:
    """Resolve ``actor`` (handle or DID) and fetch its tracked records, verified.

    Args:
        actor: a handle or DID.
        collections: NSIDs and/or namespace prefixes (``pub.layers.``); default: the
            ``pub.layers.`` namespace.
        mode: ``car``, ``tree``, ``records`` or ``auto`` (the rule in
            :mod:`lairs_etl.atproto.fetch.auto`).
        since: fetch incrementally from this rev (``car`` or ``tree`` mode): needs
            ``blockstore`` holding the earlier fetch's blocks and ``since_data``, its
            data root.
        since_data: the MST root of the fetch at ``since`` (``FetchResult.data``).
        client: the XRPC client (thread-safe; shared across actors).
        resolver: turns the actor into a DID, PDS URL and signing key.
        blockstore: where the ``car`` mode keeps blocks (persist it to fetch
            incrementally; the ``tree`` mode reads the earlier blocks from it and adds
            the changed nodes); default a temporary one.
        workers: parallel ``getBlocks`` calls in the ``tree`` mode.

    Raises:
        ConfigError: an unknown mode, or ``since`` in a mode that cannot do it.
        IdentityError: the actor cannot be resolved.
        VerificationError: a hash, signature, MST or CID check failed (the subclass
            says which); ``actor`` and ``cid`` name what failed.
        TransportError: the PDS could not be reached or kept failing
            (:class:`LimitExceededError` when it took too long or sent too much).
    """
    if mode not in _MODES:
        raise ConfigError(f"unknown fetch mode {mode!r}; choose one of {', '.join(_MODES)}")
    if since is not None and mode == "records":
        raise ConfigError("the records mode cannot fetch incrementally; use car, tree or auto")
    tracked = (
        collections
        if isinstance(collections, CollectionFilter)
        else (default_collections() if collections is None else CollectionFilter.of(collections))
    )
    started = time.perf_counter()
    try:
        identity = resolver.resolve(actor)
    except LairsError as exc:
        exc.actor = exc.actor or actor  # a refused DID document or PDS URL names the actor too
        raise
    did = str(identity.did)
    budgeted = BudgetedClient(client, Budget(client.limits, actor=did))
    try:
        result = _run(
            identity,
            tracked,
            mode=mode,
            since=since,
            since_data=since_data,
            client=budgeted,
            blockstore=blockstore,
            workers=workers,
        )
    except LairsError as exc:
        exc.actor = exc.actor or did
        raise
    return replace(result, seconds=time.perf_counter() - started)


def _run(
    ident: IdentityLike,
    tracked: CollectionFilter,
    *,
    mode: FetchMode,
    since: str | None,
    since_data: Cid | None,
    client: Client,
    blockstore: BlockStore | None,
    workers: int,
) -> FetchResult:
    did = Did(ident.did)
    if mode == "car":
        return fetch_car(
            ident, tracked, client=client, blockstore=blockstore, since=since, since_data=since_data
        )
    if mode == "tree":
        return fetch_tree(
            ident,
            tracked,
            client=client,
            workers=workers,
            blockstore=blockstore,
            since=since,
            since_data=since_data,
        )
    if mode == "records":
        return fetch_records(did, ident.pds_url, tracked, client=client)
    repo_collections = None if since is not None else describe_collections(ident, client=client)
    chosen = choose_mode(repo_collections, tracked, incremental=since is not None)
    try:
        if chosen == "car":
            return fetch_car(
                ident, tracked, client=client, blockstore=blockstore, since=since, since_data=since_data
            )
        return fetch_tree(ident, tracked, client=client, workers=workers, blockstore=blockstore)
    except XrpcError as exc:
        if not sync_unsupported(exc) or since is not None:
            raise
    return fetch_records(did, ident.pds_url, tracked, client=client, repo_collections=repo_collections)
