"""One actor's part of a sync, before anything is committed: plan, fetch, validate.

:func:`pull_actor` runs on a worker thread (the engine keeps several ahead of the
commits). It resolves the actor, decides from the repository's state and the PDS's
latest rev whether there is anything to fetch (:func:`plan`), fetches and verifies
(incrementally when the local tree is the PDS's), and validates every record once,
keeping each verdict for the lake. Nothing it does is visible until the engine commits.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from lairs_etl.atproto.fetch import CollectionFilter, FetchedRecord, FetchMode, FetchResult, fetch_actor
from lairs_etl.atproto.fetch.protocols import Client, IdentityLike, Resolver
from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.errors import LairsError, TransportError
from lairs_etl.records import Diagnostic
from lairs_etl.repo.objects import ActorState, CollectionState
from lairs_etl.sync.model import Stage, SyncOptions, Target

__all__ = ["Plan", "Pulled", "Verdicts", "plan", "pull_actor"]

Verdicts = Mapping[str, tuple[Diagnostic, ...]]
"""Diagnostics by record URI (an empty tuple: valid)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What to fetch for one actor: nothing, the changes since a rev, or everything."""

    kind: Literal["unchanged", "incremental", "full"]
    since: str | None = None


def plan(
    base: ActorState | None,
    wanted: Collection[str],
    tracked: Collection[str],
    latest_rev: str | None,
    *,
    incremental: bool,
) -> Plan:
    """The cheapest fetch that brings ``wanted`` up to ``latest_rev``.

    *Unchanged* when every wanted collection was synced at ``latest_rev``;
    *incremental* when the whole tracked set is wanted and was synced at one rev, and
    the local tree is the PDS's (its root is the PDS's ``data`` recorded then, or that
    is unknown), so the local tree is the starting point of the diff; else *full*. An
    actor with untracked collections has a local tree of its own, which the PDS's diff
    cannot apply to: it goes straight to a full fetch.
    """
    if base is None or not incremental:
        return Plan("full")
    revs = {_collection_rev(base, c) for c in wanted}
    if latest_rev is not None and revs == {latest_rev}:
        return Plan("unchanged")
    mirrored = base.pds_data is None or base.pds_data == base.root
    if set(tracked) <= set(wanted) and base.pds_rev is not None and mirrored:
        return Plan("incremental", base.pds_rev)
    return Plan("full")


def _collection_rev(base: ActorState, collection: str) -> str | None:
    state = base.collection(collection)
    if state is not None:
        return state.rev
    return base.pds_rev  # a state written before per-collection provenance


@dataclass(slots=True)
class Pulled:
    """One actor fetched, verified and validated, waiting to be committed.

    ``result`` is None for an unchanged actor. ``verdicts`` holds the diagnostics of
    the invalid fetched records by URI (absent: valid); ``seconds`` the time spent
    per stage.
    """

    target: Target
    did: Did
    wanted: tuple[Nsid, ...]
    plan: Plan
    base: ActorState | None
    result: FetchResult | None = None
    verdicts: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    seconds: dict[Stage, float] = field(default_factory=dict)
    identity: IdentityLike | None = field(default=None, repr=False)
    collection_states: dict[str, CollectionState] = field(default_factory=dict)
    """Each wanted collection's rev and counts once staged (set by the engine)."""
    replaced: dict[str, tuple[set[str], int]] = field(default_factory=dict)
    """For an incremental sync, per collection: the rkeys it put or deleted and the
    DAG-CBOR bytes of the versions they replaced (set by the engine)."""

    @property
    def records(self) -> Sequence[FetchedRecord]:
        """The records fetched (for an incremental fetch: created or changed ones)."""
        return () if self.result is None else self.result.records

    def release_records(self) -> None:
        """Drop the fetched records once nothing downstream reads them (see the engine)."""
        if self.result is not None:
            self.result = replace(self.result, records=(), tree=())

    @property
    def deleted(self) -> Sequence[AtUri]:
        """The records gone since the incremental fetch's base."""
        return () if self.result is None else self.result.deleted


def pull_actor(
    target: Target,
    *,
    client: Client,
    resolver: Resolver,
    base_of: Mapping[str, ActorState],
    snapshot_blocks: object | None,
    options: SyncOptions,
    tracked: tuple[str, ...],
) -> Pulled:
    """Fetch and validate one actor (see the module docstring).

    ``base_of`` is the repository head's actor states; ``snapshot_blocks`` a block
    source of the head (the starting point of an incremental fetch).

    Raises:
        LairsError: anything that stops this actor (the engine reports it for the actor).
    """
    started = time.perf_counter()
    identity = resolver.resolve(target.actor)
    did = Did(identity.did)
    wanted = tuple(sorted(Nsid(c) for c in (target.collections or tracked)))
    base = base_of.get(did)
    latest = _latest_rev(client, identity.pds_url, did) if base is not None and options.incremental else None
    chosen = plan(base, wanted, tracked, latest, incremental=options.incremental)
    pulled = Pulled(target, did, wanted, chosen, base, identity=identity)
    # Every Layers collection by default: the namespace filter lets the records mode ask
    # describeRepo which ones the actor has instead of listing all 26.
    scope = CollectionFilter.of(wanted) if target.collections or options.tracked else None
    if chosen.kind == "unchanged":
        pulled.seconds[Stage.FETCHED] = time.perf_counter() - started
        return pulled
    result = None
    if chosen.kind == "incremental" and base is not None and snapshot_blocks is not None:
        mode: FetchMode = "tree" if options.fetch_mode == "tree" else "car"
        result = _fetch_since(target.actor, base, scope, mode, client, resolver, snapshot_blocks)
    if result is None:
        pulled.plan = Plan("full")
        result = fetch_actor(
            target.actor, collections=scope, mode=options.fetch_mode, client=client, resolver=resolver
        )
    pulled.result = result
    fetched = time.perf_counter()
    pulled.seconds[Stage.FETCHED] = fetched - started
    if (
        Stage.VALIDATED in options.stages
        or Stage.PARQUET in options.stages
        or Stage.COMMITTED in options.stages
    ):
        pulled.verdicts = validate_all((str(r.uri), r.value) for r in result.records)
        pulled.seconds[Stage.VALIDATED] = time.perf_counter() - fetched
    return pulled


def validate_all(records: Iterable[tuple[str, object]]) -> dict[str, tuple[Diagnostic, ...]]:
    """Diagnostics of the invalid ones of ``(uri, value)`` records decoded from DAG-CBOR, by URI.

    Valid records are left out: a pass holds one entry per invalid record, not per record.
    """
    from lairs_etl.records import validate_record  # heavy (pydantic models): on use

    verdicts: dict[str, tuple[Diagnostic, ...]] = {}
    for uri, value in records:
        if isinstance(value, dict):
            nsid = uri.split("/")[3]
            found = validate_record(value, nsid=nsid, from_dag_cbor=True).diagnostics
            if found:
                verdicts[uri] = found
        else:
            verdicts[uri] = (Diagnostic("$", "type", "record must be an object"),)
    return verdicts


def _latest_rev(client: Client, pds_url: str, did: str) -> str | None:
    try:
        answer = client.query(pds_url, "com.atproto.sync.getLatestCommit", {"did": did})
    except TransportError:
        return None
    rev = answer.get("rev") if isinstance(answer, Mapping) else None
    return rev if isinstance(rev, str) else None


def _fetch_since(  # noqa: PLR0917  # private: pull_actor's state, passed through
    actor: str,
    base: ActorState,
    scope: CollectionFilter | None,
    mode: FetchMode,
    client: Client,
    resolver: Resolver,
    snapshot_blocks: object,
) -> FetchResult | None:
    """The incremental fetch, or None when only a full fetch can tell.

    ``tree`` mode when asked for (only the changed nodes, by ``getBlocks``), else
    ``car`` (``getRepo?since``): ``auto`` and ``records`` fall back to it.

    It works when the local tree *is* the PDS tree (every collection of the actor
    tracked: the Layers-only case); otherwise the diff meets a node the repository never
    stored and the full fetch, which re-verifies everything, takes over.
    """
    from lairs_etl.repo.overlay import OverlayBlocks

    try:
        return fetch_actor(
            actor,
            collections=scope,
            mode=mode,
            since=base.pds_rev,
            since_data=base.root,
            client=client,
            resolver=resolver,
            blockstore=OverlayBlocks(snapshot_blocks),  # type: ignore[arg-type]
        )
    except (LairsError, KeyError):
        return None
