"""A run's refresh of actors and their collections (fetch, validate, commit), then the views.

This is the work behind the partitioned assets, kept free of Dagster so the op stays a
thin loop. One fetch serves every collection of an actor in the run (the CAR is
downloaded once). Fetching and validation run on a thread pool; the run's actors are
staged as puts and deletes on top of the branch head and land in one commit (one per
:data:`COMMIT_EVERY` records), so that other runs refreshing other collections or
actors, committing at the same time, keep each other's work (the repository re-applies
a stage on the new head when it loses the ref race). Only a refresh of every tracked collection replaces
the actor's whole tree and records the PDS revision and the validity counts; a partial
one leaves them unset, so an incremental pull never trusts a mixed-revision state.

The Parquet stage is :func:`write_views`: one :func:`lairs_etl.views.materialize` of the
run's actors from the branch head, after every actor has committed, so the partition
asset and ``lairs-etl materialize`` write the same lake (typed tables, exploded views,
the ``invalid`` dataset with every diagnostic) and one manifest write serves the run.

A failure (unreachable PDS, failed verification, a spent budget, a lake that refuses
writes, or any exception one actor's peer data provokes) is caught per actor and
reported as results with ``ok=False`` (or ``views_error``): the other actors of the
run go on.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.fetch.model import FetchMode
from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.atproto.xrpc import JsonValue
from lairs_etl.errors import LairsError, VerificationError, isolated
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

__all__ = [
    "COMMIT_EVERY",
    "DiagnosticRow",
    "PartitionResult",
    "RefreshRequest",
    "refresh_actors",
    "write_views",
]


@dataclass(frozen=True, slots=True)
class DiagnosticRow:
    """One violation of one record, as the validated asset's sample shows it."""

    uri: str
    cid: str
    path: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """What to do for one actor: which collections, which stages, against what."""

    actor: str
    collections: Sequence[str]
    stages: Collection[str]
    tracked: Collection[str]
    fetch_mode: FetchMode = "auto"


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """The outcome of one actor x collection partition (counts are for this collection)."""

    did: str
    collection: str
    ok: bool
    fetched: int = 0
    valid: int = 0
    invalid: int = 0
    committed: int | None = None
    parquet_rows: int | None = None
    parquet_path: str | None = None
    diagnostics_path: str | None = None
    views_error: str | None = None
    diagnostics: tuple[DiagnosticRow, ...] = field(default=(), repr=False)
    bytes_fetched: int = 0
    fetch_mode: str | None = None
    pds_rev: str | None = None
    commit: str | None = None
    seconds: float = 0.0
    verified: bool = True
    error: str | None = None
    error_type: str | None = None

    @property
    def invalid_rate(self) -> float:
        """Invalid records over all records seen (0 for an empty partition)."""
        total = self.valid + self.invalid
        return self.invalid / total if total else 0.0


@dataclass(slots=True)
class _Collected:
    valid: int = 0
    diagnostics: list[DiagnosticRow] = field(default_factory=list)
    fetched: int = 0
    blocks: list[tuple[str, str, Any, bytes]] = field(default_factory=list)
    invalid: int = 0


COMMIT_EVERY = 50_000
"""Staged records after which :func:`refresh_actors` commits (bounds memory and the
work a failed commit loses; a run below it makes one commit)."""


def refresh_actors(
    requests: Sequence[RefreshRequest],
    *,
    client: Client,
    resolver: Resolver,
    repository: Callable[[], Repository],
    workers: int = 4,
    commit_every: int = COMMIT_EVERY,
) -> list[list[PartitionResult]]:
    """Refresh many actors: fetch and validate on ``workers`` threads, commit here.

    Commits happen in the calling thread, one for every ``commit_every`` staged records
    (one for a run below that). Per-actor commits from parallel threads made the branch
    a contended ref: in a 20-actor run 14 to 19 of 20 commits lost the race, and each
    loser rebuilt its trees and wrote its pack again. Pulls are submitted a few ahead
    of the commits, so a large run never holds every actor's records at once. A failed
    commit fails the partitions staged in it; the others are unaffected.

    Returns one result list per request, in request order.
    """
    if not requests:
        return []
    committing = any("committed" in r.stages for r in requests)
    repo = repository() if committing else None
    out: dict[int, list[PartitionResult]] = {}
    pending: list[tuple[int, _Pulled]] = []
    staged = 0

    def flush() -> None:
        commit: str | None = None
        error: LairsError | None = None
        if pending:
            assert repo is not None
            started = time.perf_counter()
            message = _message([p.did for _, p in pending])
            landed = isolated(lambda: repo.commit(message, "lairs-etl dagster").encode())
            if isinstance(landed, LairsError):  # fails the chunk's partitions, not the run
                repo.discard()
                error = landed
            else:
                commit = landed
            spent = time.perf_counter() - started
            for index, pulled in pending:
                out[index] = pulled.results(commit, spent) if error is None else pulled.failed(error)
        pending.clear()

    def pull(request: RefreshRequest) -> _Pulled | list[PartitionResult]:
        return _pull(request, client, resolver, repository)

    for index, outcome in enumerate(_ordered_map(pull, requests, workers)):
        if isinstance(outcome, list):
            out[index] = outcome
        elif repo is None or "committed" not in outcome.request.stages:
            out[index] = outcome.results(None, 0.0)
        else:
            count = isolated(functools.partial(_stage, repo, outcome), actor=outcome.did)
            if isinstance(count, LairsError):
                repo.discard(outcome.did)
                out[index] = outcome.failed(count)
                continue
            staged += count
            pending.append((index, outcome))
            if staged >= commit_every:
                flush()
                staged = 0
    flush()
    return [out[index] for index in range(len(requests))]


def _ordered_map(
    fn: Callable[[RefreshRequest], _Pulled | list[PartitionResult]],
    items: Sequence[RefreshRequest],
    workers: int,
) -> Iterator[_Pulled | list[PartitionResult]]:
    """``executor.map`` in order, with at most ``2 * workers`` results waiting."""
    with ThreadPoolExecutor(max(1, workers)) as executor:
        window: deque[Future[_Pulled | list[PartitionResult]]] = deque()
        for item in items:
            window.append(executor.submit(fn, item))
            if len(window) >= 2 * max(1, workers):
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _message(dids: Sequence[str]) -> str:
    shown = ", ".join(dids[:5]) + (f" and {len(dids) - 5} more" if len(dids) > 5 else "")
    return f"refresh {len(dids)} actor{'s' if len(dids) != 1 else ''}: {shown}"


@dataclass(slots=True)
class _Pulled:
    """One actor fetched and validated, waiting to be staged and committed."""

    request: RefreshRequest
    wanted: list[Nsid]
    did: str
    collected: dict[Nsid, _Collected]
    summary: dict[str, Any]
    seconds: float

    def results(self, commit: str | None, commit_seconds: float) -> list[PartitionResult]:
        out = []
        for c in self.wanted:
            got = self.collected[c]
            out.append(
                PartitionResult(
                    did=self.did,
                    collection=str(c),
                    ok=True,
                    fetched=got.fetched,
                    valid=got.valid,
                    invalid=got.invalid,
                    committed=got.fetched if commit is not None else None,
                    diagnostics=tuple(got.diagnostics),
                    bytes_fetched=int(self.summary["bytes"] or 0),
                    fetch_mode=str(self.summary["mode"]),
                    pds_rev=None if self.summary["rev"] is None else str(self.summary["rev"]),
                    commit=commit,
                    seconds=self.seconds + commit_seconds,
                )
            )
        return out

    def failed(self, exc: LairsError) -> list[PartitionResult]:
        return _failed(self.request, self.wanted, exc, self.seconds)


def _failed(
    request: RefreshRequest, wanted: Sequence[Nsid], exc: LairsError, seconds: float
) -> list[PartitionResult]:
    return [
        PartitionResult(
            did=exc.actor or request.actor,
            collection=str(c),
            ok=False,
            seconds=seconds,
            verified=not isinstance(exc, VerificationError),
            error=str(exc),
            error_type=exc.type_name,
        )
        for c in wanted
    ]


def _pull(
    request: RefreshRequest, client: Client, resolver: Resolver, repository: Callable[[], Repository]
) -> _Pulled | list[PartitionResult]:
    started = time.perf_counter()
    wanted = [Nsid(c) for c in request.collections]
    pulled = isolated(lambda: _fetch_and_collect(request, wanted, client, resolver, repository, started))
    if isinstance(pulled, LairsError):
        return _failed(request, wanted, pulled, time.perf_counter() - started)
    return pulled


def _fetch_and_collect(  # noqa: PLR0917  # private: _pull's arguments, in order
    request: RefreshRequest,
    wanted: list[Nsid],
    client: Client,
    resolver: Resolver,
    repository: Callable[[], Repository],
    started: float,
) -> _Pulled:
    stages = set(request.stages)
    if stages & {"fetched", "validated", "committed"}:
        result = fetch_actor(
            request.actor, collections=wanted, mode=request.fetch_mode, client=client, resolver=resolver
        )
        did = str(result.did)
        records = ((r.uri, r.cid, r.value, r.block) for r in result.records)
        summary: dict[str, Any] = {
            "bytes": result.bytes_transferred,
            "mode": result.mode,
            "rev": result.rev,
            "commit": result.commit,
        }
    else:
        repo = repository()
        did = str(resolver.resolve(request.actor).did)
        stored = repo.iter_records(dids=[did], collections=wanted) if repo.head() is not None else iter(())
        records = ((r.uri, r.cid, r.value(), r.block) for r in stored)
        summary = {"bytes": 0, "mode": "repository", "rev": None, "commit": None}
    collected = _collect(records, wanted, validate="validated" in stages or "parquet" in stages)
    return _Pulled(request, wanted, did, collected, summary, time.perf_counter() - started)


def _collect(
    records: Iterable[tuple[AtUri, Any, JsonValue, bytes]], wanted: Sequence[Nsid], *, validate: bool
) -> dict[Nsid, _Collected]:
    from lairs_etl.records import validate_record  # heavy (pydantic models): on use

    out = {c: _Collected() for c in wanted}
    for uri, cid, value, block in records:
        collection, rkey = uri.collection, uri.rkey
        if collection is None or rkey is None or collection not in out:
            continue
        got = out[collection]
        got.blocks.append((str(collection), str(rkey), cid, block))
        got.fetched += 1
        if not validate:
            continue
        verdict = (
            validate_record(value, nsid=collection, from_dag_cbor=True) if isinstance(value, dict) else None
        )
        if verdict is not None and verdict.valid:
            got.valid += 1
            continue
        got.invalid += 1
        if verdict is None:
            got.diagnostics.append(DiagnosticRow(str(uri), cid.encode(), "$", "type", "not an object"))
        else:
            got.diagnostics.extend(
                DiagnosticRow(str(uri), cid.encode(), d.path, d.code, d.message) for d in verdict.diagnostics
            )
    return out


def _stage(repo: Repository, pulled: _Pulled) -> int:
    """Stage ``pulled`` on ``repo`` (not committed yet); returns how many records."""
    did, wanted, collected = Did(pulled.did), pulled.wanted, pulled.collected
    full = set(pulled.request.tracked) <= set(wanted)
    puts = [block for c in wanted for block in collected[c].blocks]
    deleted: list[tuple[str, str]] = []
    head = repo.head()
    if not full and head is not None and did in repo.actors(head):
        fresh = {(b[0], b[1]) for b in puts}
        for stored in repo.iter_records(head, dids=[did], collections=wanted):
            key = (str(stored.uri.collection), str(stored.uri.rkey))
            if key not in fresh:
                deleted.append(key)
    rev, pds_commit = pulled.summary["rev"], pulled.summary["commit"]
    provenance = Provenance(
        pds_commit=pds_commit if full else None,
        pds_rev=str(rev) if full and rev else None,
        valid_count=sum(collected[c].valid for c in wanted) if full else None,
        invalid_count=sum(collected[c].invalid for c in wanted) if full else None,
    )
    repo.stage(did, puts, replace=full, deleted=deleted, provenance=provenance, verify=False)
    for c in wanted:  # the stage holds them now: a chunk is not kept twice while it waits
        collected[c].blocks.clear()
    return len(puts)


def write_views(
    repo: Repository,
    lake_url: str,
    results: Sequence[PartitionResult],
    *,
    storage_options: Mapping[str, object] | None = None,
) -> list[PartitionResult]:
    """Rewrite the lake's views of the actors refreshed ok, from the branch head.

    Returns ``results`` with the Parquet fields set: rows and path of each partition's
    typed table, path of its ``invalid`` file when it has invalid records, or
    ``views_error`` for every partition when the lake refused the write (the commits
    already landed are kept; the row-count check then fails for them).
    """
    from lairs_etl.views import RepositorySource, TableKey, materialize, partition_path
    from lairs_etl.views.invalid import INVALID_DATASET
    from lairs_etl.views.layout import RECORDS_DATASET

    dids = sorted({r.did for r in results if r.ok})
    head = repo.head()
    if not dids or head is None:
        return [replace(r, parquet_rows=0) if r.ok else r for r in results]
    source = RepositorySource(repo, head.encode())
    summary = isolated(lambda: materialize(source, lake_url, storage_options=storage_options, dids=dids))
    if isinstance(summary, LairsError):  # the whole write failed (the manifest, the store)
        error = f"{summary.type_name}: {summary}"
        return [replace(r, views_error=error) if r.ok else r for r in results]
    manifest = summary.manifest

    def located(dataset: str, did: str, collection: str) -> tuple[int, str | None]:
        key = TableKey(dataset, collection)
        entry = manifest.table(key)
        if entry is None or did not in entry.partitions:
            return 0, None
        return entry.partitions[did], partition_path(lake_url, key, entry.version, did)

    failed = {did: f"{error.type_name}: {error}" for did, error in summary.failed}
    out = []
    for r in results:
        if not r.ok:
            out.append(r)
            continue
        if r.did in failed:
            out.append(replace(r, views_error=failed[r.did]))
            continue
        rows, path = located(RECORDS_DATASET, r.did, r.collection)
        _, invalid_path = located(INVALID_DATASET, r.did, r.collection)
        out.append(replace(r, parquet_rows=rows, parquet_path=path, diagnostics_path=invalid_path))
    return out
