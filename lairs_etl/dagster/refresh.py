"""One actor's refresh for a set of its collections: fetch, validate, commit, write Parquet.

This is the work behind the partitioned assets, kept free of Dagster so the op stays a
thin loop. One fetch serves every collection of the actor in the run (the CAR is
downloaded once); one commit lands all of them, staged as puts and deletes on top of
the branch head so that runs refreshing other collections of the same actor, committing
at the same time, keep each other's work (the repository re-applies a stage on the new
head when it loses the ref race). Only a refresh of every tracked collection replaces
the actor's whole tree and records the PDS revision and the validity counts; a partial
one leaves them unset, so an incremental pull never trusts a mixed-revision state.

A failure (unreachable PDS, failed verification) is caught per actor and reported as
results with ``ok=False``: the other actors of the run go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.fetch.model import FetchMode
from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.atproto.xrpc import JsonValue
from lairs_etl.dagster.lake import (
    DiagnosticRow,
    RecordRow,
    partition_path,
    read_row_count,
    write_diagnostics,
    write_records,
)
from lairs_etl.errors import LairsError, VerificationError
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

__all__ = ["Lake", "PartitionResult", "RefreshRequest", "refresh_actor"]

Lake = tuple[Any, str]
"""``(fsspec filesystem, root path)``."""


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
    rows: list[RecordRow] = field(default_factory=list)
    diagnostics: list[DiagnosticRow] = field(default_factory=list)
    blocks: list[tuple[str, str, Any, bytes]] = field(default_factory=list)
    invalid: int = 0


def refresh_actor(
    request: RefreshRequest,
    *,
    client: Client,
    resolver: Resolver,
    repository: Callable[[], Repository],
    lake: Lake | None,
) -> list[PartitionResult]:
    """Run ``request``; one result per requested collection, in request order."""
    started = time.perf_counter()
    wanted = [Nsid(c) for c in request.collections]
    try:
        return _refresh(request, wanted, client, resolver, repository, lake, started)
    except LairsError as exc:
        seconds = time.perf_counter() - started
        return [
            PartitionResult(
                did=exc.actor or request.actor,
                collection=str(c),
                ok=False,
                seconds=seconds,
                verified=not isinstance(exc, VerificationError),
                error=str(exc),
                error_type=type(exc).__name__,
            )
            for c in wanted
        ]


def _refresh(  # noqa: PLR0917  # private: refresh_actor's arguments, in order
    request: RefreshRequest,
    wanted: list[Nsid],
    client: Client,
    resolver: Resolver,
    repository: Callable[[], Repository],
    lake: Lake | None,
    started: float,
) -> list[PartitionResult]:
    stages = set(request.stages)
    repo = repository() if stages & {"committed", "parquet"} else None
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
        assert repo is not None
        did = str(resolver.resolve(request.actor).did)
        stored = repo.iter_records(dids=[did], collections=wanted) if repo.head() is not None else iter(())
        records = ((r.uri, r.cid, r.value(), r.block) for r in stored)
        summary = {"bytes": 0, "mode": "repository", "rev": None, "commit": None}
    collected = _collect(records, wanted, validate="validated" in stages or "parquet" in stages)
    commit = None
    if "committed" in stages and repo is not None:
        commit = _commit(repo, Did(did), collected, wanted, request, summary["rev"], summary["commit"])
    paths: dict[Nsid, tuple[str | None, str | None, int | None]] = {}
    if "parquet" in stages and lake is not None:
        paths = {c: _write(lake, Did(did), c, collected[c]) for c in wanted}
    seconds = time.perf_counter() - started
    out = []
    for c in wanted:
        got = collected[c]
        parquet_path, diagnostics_path, rows = paths.get(c, (None, None, None))
        out.append(
            PartitionResult(
                did=did,
                collection=str(c),
                ok=True,
                fetched=len(got.blocks),
                valid=len(got.rows),
                invalid=got.invalid,
                committed=len(got.blocks) if commit is not None else None,
                parquet_rows=rows,
                parquet_path=parquet_path,
                diagnostics_path=diagnostics_path,
                diagnostics=tuple(got.diagnostics),
                bytes_fetched=int(summary["bytes"] or 0),
                fetch_mode=str(summary["mode"]),
                pds_rev=None if summary["rev"] is None else str(summary["rev"]),
                commit=commit,
                seconds=seconds,
            )
        )
    return out


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
        if not validate:
            continue
        verdict = validate_record(value, nsid=collection) if isinstance(value, dict) else None
        if verdict is not None and verdict.valid:
            got.rows.append(RecordRow(str(uri), str(rkey), cid.encode(), value))
            continue
        got.invalid += 1
        if verdict is None:
            got.diagnostics.append(DiagnosticRow(str(uri), cid.encode(), "$", "type", "not an object"))
        else:
            got.diagnostics.extend(
                DiagnosticRow(str(uri), cid.encode(), d.path, d.code, d.message) for d in verdict.diagnostics
            )
    return out


def _commit(  # noqa: PLR0917  # private
    repo: Repository,
    did: Did,
    collected: dict[Nsid, _Collected],
    wanted: Sequence[Nsid],
    request: RefreshRequest,
    rev: str | None,
    pds_commit: Any,
) -> str:
    full = set(request.tracked) <= set(wanted)
    puts = [block for c in wanted for block in collected[c].blocks]
    deleted: list[tuple[str, str]] = []
    head = repo.head()
    if not full and head is not None and did in repo.actors(head):
        fresh = {(b[0], b[1]) for b in puts}
        for stored in repo.iter_records(head, dids=[did], collections=wanted):
            key = (str(stored.uri.collection), str(stored.uri.rkey))
            if key not in fresh:
                deleted.append(key)
    valid = sum(len(collected[c].rows) for c in wanted)
    invalid = sum(collected[c].invalid for c in wanted)
    provenance = Provenance(
        pds_commit=pds_commit if full else None,
        pds_rev=str(rev) if full and rev else None,
        valid_count=valid if full else None,
        invalid_count=invalid if full else None,
    )
    repo.stage(did, puts, replace=full, deleted=deleted, provenance=provenance, verify=False)
    scope = "all collections" if full else ", ".join(wanted)
    return repo.commit(f"refresh {did} ({scope}) at rev {rev}", "lairs-etl dagster").encode()


def _write(lake: Lake, did: Did, collection: Nsid, got: _Collected) -> tuple[str, str, int]:
    fs, root = lake
    records_path = partition_path(root, "records", did, collection)
    diagnostics_path = partition_path(root, "diagnostics", did, collection)
    write_records(fs, records_path, did, collection, got.rows)
    write_diagnostics(fs, diagnostics_path, got.diagnostics)
    return records_path, diagnostics_path, read_row_count(fs, records_path)
