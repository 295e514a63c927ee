"""What a sync is asked to do and what it did: targets, options, stages and typed outcomes.

A *target* is an actor (handle or DID) and the collections to refresh; the outcome of
each is an :class:`ActorSync` holding one :class:`CollectionSync` per collection, and
a run's outcomes make a :class:`SyncReport`. Every field means one thing with one unit
(counts of records, bytes received, seconds), so the CLI prints them as they are and the
Dagster assets attach them per partition without translating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lairs_etl.atproto.fetch.model import FetchMode

__all__ = [
    "ActorSync",
    "CollectionSync",
    "RecordProblem",
    "Stage",
    "Status",
    "SyncOptions",
    "SyncReport",
    "Target",
]


class Stage(StrEnum):
    """The steps of a sync, in order; a run may stop after any of them."""

    FETCHED = "fetched"
    VALIDATED = "validated"
    COMMITTED = "committed"
    PARQUET = "parquet"


ALL_STAGES = frozenset(Stage)


class Status(StrEnum):
    """How an actor's sync ended."""

    COMMITTED = "committed"
    """Its records were fetched, verified and committed (and written to the lake when asked)."""
    FETCHED = "fetched"
    """Fetched and verified (and validated when asked), not committed: a run of earlier stages only."""
    UNCHANGED = "unchanged"
    """The PDS is at the rev the repository recorded for every collection asked: nothing fetched."""
    FAILED = "failed"
    """Something failed for this actor alone (``error_type`` says what); the others went on."""


@dataclass(frozen=True, slots=True)
class Target:
    """One actor to sync (a handle or DID) and its collections (``None``: every tracked one)."""

    actor: str
    collections: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """One lexicon violation of one record (a row of the diagnostics sample)."""

    uri: str
    cid: str
    path: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class CollectionSync:
    """One collection of one actor: what was fetched, validated and written.

    ``records`` counts the records fetched for it (for an incremental sync: created or
    changed ones), ``valid``/``invalid`` the collection's records after the sync,
    ``deleted`` those gone since the last sync. ``lake_rows`` is the rows of its typed
    table (None: the lake was not written). ``problems`` is a sample (see
    :attr:`SyncOptions.problems_per_collection`); ``problem_count`` all of them.
    """

    collection: str
    records: int = 0
    valid: int = 0
    invalid: int = 0
    deleted: int = 0
    lake_rows: int | None = None
    lake_path: str | None = None
    invalid_path: str | None = None
    problems: tuple[RecordProblem, ...] = field(default=(), repr=False)
    problem_count: int = 0

    @property
    def invalid_rate(self) -> float:
        """Invalid records over all records of the collection (0 when it is empty)."""
        total = self.valid + self.invalid
        return self.invalid / total if total else 0.0


@dataclass(frozen=True, slots=True)
class ActorSync:
    """One actor's outcome; ``seconds`` per stage actually run, ``bytes_fetched`` as received."""

    actor: str
    status: Status
    did: str | None = None
    mode: str | None = None
    incremental: bool = False
    rev: str | None = None
    commit: str | None = None
    records: int = 0
    deleted: int = 0
    valid: int = 0
    invalid: int = 0
    bytes_fetched: int = 0
    seconds: Mapping[Stage, float] = field(default_factory=dict)
    collections: tuple[CollectionSync, ...] = ()
    verified: bool = True
    authenticated: bool = True
    error: str | None = None
    error_type: str | None = None
    lake_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the actor did not fail (its lake files may still have, see ``lake_error``)."""
        return self.status != Status.FAILED

    def collection(self, nsid: str) -> CollectionSync | None:
        """The outcome of one collection, if it was asked for."""
        return next((c for c in self.collections if c.collection == nsid), None)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary (``None`` fields dropped; problems left to the lake's table)."""
        out: dict[str, object] = {
            "actor": self.actor,
            "status": str(self.status),
            "did": self.did,
            "mode": self.mode,
            "incremental": self.incremental,
            "rev": self.rev,
            "commit": self.commit,
            "records": self.records,
            "deleted": self.deleted,
            "valid": self.valid,
            "invalid": self.invalid,
            "bytes_fetched": self.bytes_fetched,
            "seconds": {str(stage): round(value, 3) for stage, value in self.seconds.items()},
            "authenticated": self.authenticated,
            "error": self.error,
            "error_type": self.error_type,
            "lake_error": self.lake_error,
        }
        if self.collections and any(c.lake_rows is not None for c in self.collections):
            out["lake_files"] = sum(1 for c in self.collections if c.lake_path is not None)
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, slots=True)
class SyncReport:
    """A run: the branch head after it, the tag made, each actor's outcome."""

    branch: str
    commit: str | None
    actors: tuple[ActorSync, ...] = ()
    tag: str | None = None
    lake: str | None = None

    @property
    def ok(self) -> bool:
        """Whether no actor failed and no lake write did."""
        return all(a.ok and a.lake_error is None for a in self.actors)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary, as ``lairs-etl sync`` prints it."""
        return {
            "ok": self.ok,
            "branch": self.branch,
            "commit": self.commit,
            "tag": self.tag,
            "lake": self.lake,
            "actors": [a.to_json() for a in self.actors],
        }


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How a run syncs (every field has the default the CLI and the assets use).

    ``tracked`` is every collection the deployment keeps (default: the 26 Layers record
    types); a target asking for fewer is a *partial* sync, which never erases what is
    known of the others. ``commit_every`` bounds the records one commit (and the memory
    waiting for it) holds. ``workers`` actors are fetched and validated at once, ahead
    of the commits. ``stages`` stops the run after earlier stages (Dagster subsets).
    """

    branch: str | None = None
    author: str = "lairs-etl sync"
    tracked: tuple[str, ...] | None = None
    incremental: bool = True
    fetch_mode: FetchMode = "auto"
    workers: int = 4
    commit_every: int = 50_000
    stages: frozenset[Stage] = ALL_STAGES
    tag: str | None = None
    problems_per_collection: int = 20
