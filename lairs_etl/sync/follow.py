"""Following the firehose: each verified commit into the repository and the lake.

A :class:`Follower` takes ``subscribeRepos`` frames one by one (the websocket client or
a recorded stream) and, per actor:

* proves each ``#commit`` from its frame (:mod:`lairs_etl.atproto.firehose.verify`)
  with the actor's key (resolved on a miss and cached; a signature that fails is
  retried once with a freshly resolved key, which is how a rotation is met);
* checks that it continues the state the repository holds (``pds_rev``, ``pds_data``
  of the actor's :class:`~lairs_etl.repo.objects.ActorState`, advanced in memory as
  commits are accepted): a commit that starts elsewhere marks the actor
  *desynchronized*; an old one (a replay) is refused and changes nothing;
* gathers the accepted writes of tracked collections and, every ``flush_ops`` ops or
  ``flush_seconds``, hands them to the engine (:func:`~lairs_etl.sync.engine.commit_fetched`):
  the same validation, staging, commits and lake patches as a batch sync;
* re-syncs every desynchronized or refused actor through the engine's own fetch
  (incremental when it can), never by trusting the frame; ``#sync``, ``tooBig`` and
  ``OutdatedCursor`` lead there too;
* records ``#account`` statuses (a deleted account's records are tombstoned: removed
  in the next commit and lake update) and drops cached keys on ``#identity``.

The cursor moves only after a flush landed, so a consumer stopped at any point resumes
from the last commit it made and loses nothing; what it re-reads is stale by rev and
skipped. Discovery (``discover=True``): an actor not yet in the repository whose commit
touches a tracked collection is synced in full and followed from then on.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.crypto import PublicKey, public_key_from_verification_method
from lairs_etl.atproto.fetch import FetchedRecord, FetchResult
from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.firehose import (
    AccountEvent,
    CommitEvent,
    IdentityEvent,
    InfoEvent,
    SyncEvent,
    VerifiedCommit,
    check_chain,
    verify_commit_event,
    verify_sync_event,
)
from lairs_etl.atproto.firehose.client import Received, Subscription
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.probes import repo_status
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import (
    BlockHashMismatch,
    CarFormatError,
    ChainBreakError,
    CommitProofError,
    FrameError,
    FutureCursorError,
    IdentityError,
    LairsError,
    SignatureError,
    TransportError,
    VerificationError,
)
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.engine import LakeTarget, commit_fetched, sync
from lairs_etl.sync.model import ActorSync, SyncOptions, SyncReport, Target

__all__ = ["Checkpoint", "FollowOptions", "FollowReport", "Follower", "Rejection", "follow"]

_log = logging.getLogger(__name__)

Checkpoint = Callable[[int, Sequence[str]], None]
"""Saves a cursor and the actors still owed a re-sync (the next run starts from both)."""

_SAMPLE = 50
"""Rejections kept in a report's sample (all of them are counted)."""


@dataclass(frozen=True, slots=True)
class FollowOptions:
    """How a follower batches and what it follows.

    ``flush_ops`` and ``flush_seconds`` bound what waits for a commit: a flush comes
    when either is reached (the second is the latency a record waits at most before it
    is in the repository, plus the commit itself). ``discover`` follows actors not yet
    in the repository once they write a tracked collection.
    """

    flush_ops: int = 5_000
    flush_seconds: float = 0.5
    discover: bool = False
    checkpoint_seconds: float = 5.0
    """How often the cursor is saved when nothing waits to be committed (a quiet stream
    for the actors followed, on a busy relay)."""
    resync_backoff_seconds: float = 30.0
    """First wait before a failed re-sync is tried again (doubling, at most an hour)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused frame: why, as a short reason and as the error."""

    seq: int | None
    did: str | None
    reason: str
    error: str


_KEPT_SYNCS = 20
"""Engine reports a follower keeps (the latest): a long run makes two per batch."""


@dataclass(slots=True)
class FollowReport:
    """What a follower did: frames seen, commits applied, what it refused and re-synced.

    ``lag_seconds`` is the time between the producer stamping the last applied commit
    and its landing in the repository (clock skew included). ``syncs`` are the latest
    engine reports (one per batch and one per re-sync round); ``failures`` counts the
    actors that failed in any of them, ``failed`` samples them. ``owed`` are the actors
    still to be re-synced when the report was made (they are retried, and a cursor
    saved with them); ``unfollowed`` those dropped because their state cannot be
    chained (synced without a verified commit, e.g. by ``records`` mode).
    """

    frames: int = 0
    commits: int = 0
    ops: int = 0
    skipped: int = 0
    stale: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    resynced: list[str] = field(default_factory=list)
    discovered: list[str] = field(default_factory=list)
    unfollowed: list[str] = field(default_factory=list)
    owed: list[str] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)
    cursor: int | None = None
    lag_seconds: float | None = None
    syncs: list[SyncReport] = field(default_factory=list)
    failures: int = 0
    failed: list[ActorSync] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every engine run it made succeeded (refused frames are not failures)."""
        return self.failures == 0

    def add(self, landed: SyncReport) -> None:
        """Count an engine report (the latest few are kept)."""
        self.syncs.append(landed)
        del self.syncs[:-_KEPT_SYNCS]
        for outcome in landed.actors:
            if not outcome.ok:
                self.failures += 1
                if len(self.failed) < _SAMPLE:
                    self.failed.append(outcome)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary, as ``lairs-etl follow`` prints it."""
        return {
            "ok": self.ok,
            "frames": self.frames,
            "commits": self.commits,
            "ops": self.ops,
            "skipped": self.skipped,
            "stale": self.stale,
            "rejected": dict(sorted(self.rejected.items())),
            "rejections": [_rejection_json(r) for r in self.rejections],
            "resynced": sorted(set(self.resynced)),
            "discovered": self.discovered,
            "unfollowed": self.unfollowed,
            "owed": self.owed,
            "accounts": self.accounts,
            "cursor": self.cursor,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "commit": next((r.commit for r in reversed(self.syncs) if r.commit), None),
            "failures": self.failures,
            "failed": [a.to_json() for a in self.failed],
        }


def _rejection_json(rejection: Rejection) -> dict[str, object]:
    return {"seq": rejection.seq, "did": rejection.did, "reason": rejection.reason, "error": rejection.error}


@dataclass(slots=True)
class _Pending:
    """One actor's accepted writes since the last flush, merged (a later write wins)."""

    did: Did
    since: str | None
    rev: str
    commit: Cid
    data: Cid
    puts: dict[str, tuple[Cid, bytes]] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def result(self) -> FetchResult:
        records = tuple(
            FetchedRecord(AtUri.for_path(self.did, path), cid, block)
            for path, (cid, block) in sorted(self.puts.items())
        )
        deleted = tuple(AtUri.for_path(self.did, path) for path in sorted(self.deletes))
        return FetchResult(
            did=self.did,
            mode="firehose",
            rev=self.rev,
            commit=self.commit,
            data=self.data,
            records=records,
            deleted=deleted,
            since=self.since,
        )


def _tombstone(did: Did) -> FetchResult:
    return FetchResult(did=did, mode="firehose", rev=None, commit=None, data=None, records=())


class Follower:
    """Applies a stream of frames to a repository and a lake (see the module docstring).

    Args:
        repository: where verified records are committed; its head says which actors
            are followed (unless ``actors`` narrows them) and where each one stands.
        resolver: resolves signing keys and PDS endpoints (for re-syncs).
        client: fetches re-synced actors.
        lake: the lake to keep up to date (None: the repository only).
        options: the engine's options (branch, tracked collections, fetch mode …).
        follow: batching and discovery.
        actors: DIDs to follow (default: every actor of the repository's head).
        checkpoint: called with the cursor and the actors still owed a re-sync, each time
            a flush has landed (and every ``checkpoint_seconds`` on a quiet stream).
        owed: actors a previous run still owed a re-sync (what its checkpoint saved).
        clock: wall-clock seconds (lag) and flush timing; injectable for tests.
        observe: called with ``(seq, did, verdict)`` for each commit frame: ``accepted``,
            ``rejected: <reason>``, ``stale``, ``superseded`` (its actor is being
            re-synced), ``fetch first`` (a new actor), ``too big``, ``skipped`` (not
            followed).
    """

    def __init__(
        self,
        *,
        repository: Repository,
        resolver: IdentityResolver,
        client: Client,
        lake: LakeTarget | None = None,
        options: SyncOptions | None = None,
        follow: FollowOptions | None = None,
        actors: Iterable[str] | None = None,
        checkpoint: Checkpoint | None = None,
        clock: Callable[[], float] = time.time,
        observe: Callable[[int | None, str | None, str], None] | None = None,
        owed: Iterable[str] = (),
    ) -> None:
        from lairs_etl.records import record_types  # heavy (pydantic models): on use

        self.repository = repository
        self.resolver = resolver
        self.client = client
        self.lake = lake
        self.options = options or SyncOptions()
        self.follow = follow or FollowOptions()
        self.tracked = frozenset(self.options.tracked or record_types())
        self.branch = self.options.branch or repository.default_branch
        self._checkpoint = checkpoint
        self._observe = observe
        self._clock = clock
        self.report = FollowReport()
        self._chain: dict[str, tuple[str | None, Cid | None]] = {}
        self._load_chain()
        self.actors: set[str] = set(actors) if actors is not None else set(self._chain)
        self._keys: dict[str, PublicKey] = {}
        self._pending: dict[str, _Pending] = {}
        self._pending_ops = 0
        self._tombstones: set[str] = set()
        self._resync: set[str] = set(owed)
        self._retry: dict[str, tuple[float, float]] = {}
        """Failed re-syncs: when to try again, and the wait after that."""
        self._last_flush = clock()
        self._last_checkpoint = clock()
        self._seen: int | None = None
        self._newest_time: str | None = None

    # -- the state held per actor --------------------------------------------------------

    def _load_chain(self, dids: Collection[str] | None = None) -> None:
        """Hold each actor's state as the head has it (``dids``: only those, looked up one by one)."""
        head = self.repository.head(self.branch)
        states = dict(self.repository.actors(head, dids=dids)) if head is not None else {}
        for did in states if dids is None else dids:
            state = states.get(did)
            if state is None:
                self._chain.pop(did, None)
            else:
                self._chain[did] = (state.pds_rev, state.pds_data)

    # -- frames --------------------------------------------------------------------------

    def handle(self, received: Received) -> None:
        """Take one frame (flushing when a batch is full or old enough)."""
        report = self.report
        report.frames += 1
        event = received.event
        if isinstance(event, FrameError):
            self._reject(None, None, "malformed", event)
        elif isinstance(event, CommitEvent):
            self._commit(event)
        elif isinstance(event, SyncEvent):
            self._sync_event(event)
        elif isinstance(event, IdentityEvent):
            self._keys.pop(event.did, None)
            self.resolver.forget(event.did)
        elif isinstance(event, AccountEvent):
            self._account(event)
        elif isinstance(event, InfoEvent) and event.name == "OutdatedCursor":
            _log.warning("firehose cursor outdated: re-syncing every followed actor")
            self.resync_all()
        if received.seq is not None:
            self._seen = received.seq
        if self._pending_ops >= self.follow.flush_ops:
            self.flush()
        else:
            self.tick()

    def resync_all(self) -> None:
        """Owe every followed actor a re-sync (events may have been missed)."""
        self._resync.update(self.actors)

    def tick(self) -> None:
        """Flush what has waited ``flush_seconds``, or save the cursor on a quiet stream.

        Called after each frame and whenever the stream is quiet.
        """
        now = self._clock()
        due = [d for d in self._resync | self._tombstones if self._retry.get(d, (0.0, 0.0))[0] <= now]
        if (self._pending or due) and now - self._last_flush >= self.follow.flush_seconds:
            self.flush()
        elif (
            self._seen != self.report.cursor and now - self._last_checkpoint >= self.follow.checkpoint_seconds
        ):
            self._save_cursor()

    def _follows(self, event: CommitEvent) -> bool:
        if event.repo in self.actors:
            return True
        if not self.follow.discover:
            return False
        return any(op.path.partition("/")[0] in self.tracked for op in event.ops)

    def _commit(self, event: CommitEvent) -> None:
        did = event.repo
        if not self._follows(event):
            self.report.skipped += 1
            self._verdict(event.seq, did, "skipped")
            return
        if event.too_big:  # Sync 1.0's escape hatch: the frame cannot prove itself
            self._resync.add(did)
            self._verdict(event.seq, did, "too big")
            return
        try:
            verified = self._verified(event)
        except VerificationError as exc:
            self._reject(event.seq, did, _reason(exc), exc)
            self._resync.add(did)
            return
        except LairsError as exc:  # the key could not be resolved: the frame waits for the re-sync
            self._reject(event.seq, did, "key unavailable", exc)
            self._resync.add(did)
            return
        held_rev, held_data = self._chain.get(did, (None, None))
        if held_rev is None or held_data is None:
            # A new actor (discovered or named), or one whose state does not name the PDS
            # commit it mirrors (a partial or records-mode sync): fetched whole first.
            if did not in self.actors:
                self.actors.add(did)
                self.report.discovered.append(did)
            self._resync.add(did)
            self._verdict(event.seq, did, "fetch first")
            return
        try:
            check_chain(verified, held_rev, held_data)
        except ChainBreakError as exc:
            if exc.reason == "stale":
                self.report.stale += 1
                self._sample(Rejection(event.seq, did, "stale", str(exc)))
                self._verdict(event.seq, did, "stale")
            elif did in self._resync:  # already behind: its re-sync fetches this state
                self._verdict(event.seq, did, "superseded")
            else:
                self._reject(event.seq, did, "desynchronized", exc)
                self._resync.add(did)
            return
        if did in self._resync:
            self._verdict(event.seq, did, "superseded")
            return
        self._verdict(event.seq, did, "accepted")
        self._accept(verified, held_rev)

    def _accept(self, verified: VerifiedCommit, held_rev: str | None) -> None:
        """Advance the actor's chain and gather the commit's writes of tracked collections."""
        did = Did(verified.did)
        self._chain[did] = (verified.rev, verified.data)
        pending = self._pending.get(did)
        if pending is None:
            pending = self._pending[did] = _Pending(
                did, held_rev, verified.rev, verified.commit, verified.data
            )
        pending.rev, pending.commit, pending.data = verified.rev, verified.commit, verified.data
        for write in verified.writes:
            if write.collection not in self.tracked:
                continue
            self._pending_ops += 1
            if write.block is None:
                pending.puts.pop(write.path, None)
                pending.deletes.add(write.path)
            else:
                assert write.cid is not None
                pending.deletes.discard(write.path)
                pending.puts[write.path] = (write.cid, write.block)
            self.report.ops += 1
        self.report.commits += 1
        self._newest_time = verified.time

    def _verified(self, event: CommitEvent) -> VerifiedCommit:
        key = self._key(event.repo)
        try:
            return verify_commit_event(event, key)
        except SignatureError:
            self._keys.pop(event.repo, None)  # maybe rotated: one fresh resolution, then judge
            self.resolver.forget(event.repo)
            fresh = self._key(event.repo)
            if fresh == key:
                raise
            return verify_commit_event(event, fresh)

    def _key(self, did: str) -> PublicKey:
        key = self._keys.get(did)
        if key is None:
            method = self.resolver.resolve(did).signing_key
            key = self._keys[did] = public_key_from_verification_method(
                {"type": method.type, "publicKeyMultibase": method.public_key_multibase}
            )
        return key

    def _sync_event(self, event: SyncEvent) -> None:
        if event.did not in self.actors:
            self.report.skipped += 1
            return
        try:
            verify_sync_event(event, self._key(event.did))
        except LairsError as exc:
            self._reject(event.seq, event.did, _reason(exc), exc)
        self._resync.add(event.did)

    def _account(self, event: AccountEvent) -> None:
        if event.did not in self.actors:
            return
        status = "active" if event.active else (event.status or "inactive")
        self.report.accounts[event.did] = status
        if status == "deleted":  # unsigned: confirmed with the account's own PDS before anything goes
            self._tombstones.add(event.did)
        elif event.active:
            self._resync.add(event.did)  # reactivated: whatever happened meanwhile

    def _verdict(self, seq: int | None, did: str | None, verdict: str) -> None:
        if self._observe is not None:
            self._observe(seq, did, verdict)

    def _reject(self, seq: int | None, did: str | None, reason: str, error: LairsError) -> None:
        self._verdict(seq, did, f"rejected: {reason}")
        self.report.rejected[reason] += 1
        self._sample(Rejection(seq, did, reason, f"{error.type_name}: {error}"))
        _log.warning("firehose frame %s of %s refused (%s): %s", seq, did, reason, error)

    def _sample(self, rejection: Rejection) -> None:
        if len(self.report.rejections) < _SAMPLE:
            self.report.rejections.append(rejection)

    # -- commits -------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit what was accepted, re-sync what needs it, then move the cursor."""
        pending, self._pending, self._pending_ops = self._pending, {}, 0
        deleted = self._confirmed_deletions()
        for did in deleted:
            pending.pop(did, None)
        results = [p.result() for p in pending.values()]
        results += [_tombstone(Did(did)) for did in deleted]
        if results:
            landed = commit_fetched(results, repository=self.repository, lake=self.lake, options=self.options)
            self.report.add(landed)
            for outcome in landed.actors:
                did = outcome.did or outcome.actor
                if outcome.ok:
                    self._tombstones.discard(did)
                elif did not in deleted:  # what the chain advanced to never landed: fetch it instead
                    self._resync.add(did)
            self._load_chain([str(r.did) for r in results])
            if self._newest_time is not None:
                self.report.lag_seconds = max(0.0, self._clock() - _epoch(self._newest_time))
        self._resync.difference_update(self._tombstones)
        self._resync_due()
        self._last_flush = self._clock()
        self._save_cursor()

    def _confirmed_deletions(self) -> list[str]:
        """The ``#account deleted`` actors whose own PDS confirms it (a relay's word is unsigned).

        One the PDS says is active again is re-synced instead; one that cannot be asked
        now is asked again at the next flush.
        """
        confirmed = []
        now = self._clock()
        for did in sorted(self._tombstones):
            if self._retry.get(did, (0.0, 0.0))[0] > now:
                continue
            try:
                status = repo_status(self.client, self.resolver.resolve(did).pds_url, did)
            except LairsError as exc:
                _log.warning("cannot confirm that %s was deleted (asked again later): %s", did, exc)
                self._back_off(did, now)
                continue
            self._retry.pop(did, None)
            if status == "deleted":
                confirmed.append(did)
            else:
                self._tombstones.discard(did)
                self.report.accounts[did] = status
                self._resync.add(did)
        return confirmed

    def _resync_due(self) -> None:
        """Fetch the actors owed a re-sync whose time has come; failures wait longer."""
        now = self._clock()
        dids = sorted(d for d in self._resync if self._retry.get(d, (0.0, 0.0))[0] <= now)
        if not dids:
            return
        caught_up = sync(
            [Target(did) for did in dids],
            client=self.client,
            resolver=self.resolver,
            repository=self.repository,
            lake=self.lake,
            options=self.options,
        )
        self.report.add(caught_up)
        self._load_chain(dids)
        for outcome in caught_up.actors:
            did = outcome.did or outcome.actor
            if not outcome.ok:
                self._back_off(did, now)
                continue
            self._resync.discard(did)
            self._retry.pop(did, None)
            if did not in self.report.resynced:
                self.report.resynced.append(did)
            held_rev, held_data = self._chain.get(did, (None, None))
            if held_rev is None or held_data is None:  # a state no commit can chain onto
                self.actors.discard(did)
                if did not in self.report.unfollowed:
                    self.report.unfollowed.append(did)
                _log.warning("%s synced without a verified commit (records mode?): no longer followed", did)

    def _back_off(self, did: str, now: float) -> None:
        """Try ``did`` again later: ``resync_backoff_seconds``, doubling, at most an hour."""
        wait = self._retry.get(did, (0.0, self.follow.resync_backoff_seconds))[1]
        self._retry[did] = (now + wait, min(wait * 2, 3600.0))

    def _save_cursor(self) -> None:
        self._last_checkpoint = self._clock()
        self.report.owed = sorted(self._resync | self._tombstones)
        if self._seen is not None:
            self.report.cursor = self._seen
            if self._checkpoint is not None:
                self._checkpoint(self._seen, self.report.owed)

    def run(self, frames: Iterable[Received | None]) -> FollowReport:
        """Take every frame of ``frames`` (None: a quiet moment), then flush what is left."""
        for received in frames:
            if received is None:
                self.tick()
            else:
                self.handle(received)
        self.flush()
        return self.report


def follow(
    service: str,
    *,
    repository: Repository,
    resolver: IdentityResolver,
    client: Client,
    lake: LakeTarget | None = None,
    options: SyncOptions | None = None,
    follow_options: FollowOptions | None = None,
    actors: Iterable[str] | None = None,
    cursor: int | None = None,
    seconds: float | None = None,
    allow_private_hosts: bool = False,
    checkpoint: Checkpoint | None = None,
    observe: Callable[[int | None, str | None, str], None] | None = None,
    owed: Iterable[str] = (),
) -> FollowReport:
    """Follow ``service``'s ``subscribeRepos`` (a relay or a PDS) for ``seconds``.

    Starts after ``cursor`` (None: from now), flushes as :class:`FollowOptions` says and
    once more at the end; ``checkpoint`` gets each cursor that landed with the actors
    still owed a re-sync, ``owed`` are those a previous run left, ``observe`` gets each
    commit frame's verdict (see :class:`Follower`). A producer that no longer holds the
    cursor (``FutureCursor``: it was reset, or the cursor is another producer's) is
    followed from now on, and every followed actor re-synced.

    Raises:
        UnsafeEndpointError: the service's host is not allowed.
        StreamError: the producer kept failing.
    """
    settings = follow_options or FollowOptions()
    follower = Follower(
        repository=repository,
        resolver=resolver,
        client=client,
        lake=lake,
        options=options,
        follow=settings,
        actors=actors,
        checkpoint=checkpoint,
        observe=observe,
        owed=owed,
    )
    until = None if seconds is None else time.monotonic() + seconds
    tick = settings.flush_seconds / 2
    try:
        subscription = Subscription(service, cursor=cursor, allow_private_hosts=allow_private_hosts)
        report = follower.run(subscription.frames(until=until, tick=tick))
    except FutureCursorError as exc:
        _log.warning("%s; following from now and re-syncing every followed actor", exc)
        follower.resync_all()
        subscription = Subscription(service, cursor=None, allow_private_hosts=allow_private_hosts)
        report = follower.run(subscription.frames(until=until, tick=tick))
    if report.cursor is None:
        report.cursor = cursor
    return report


def _reason(error: LairsError) -> str:
    """A short, stable name for why a frame was refused (the report's counter keys)."""
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "unverified"


_REASONS: tuple[tuple[type[LairsError], str], ...] = (
    (SignatureError, "signature"),
    (CommitProofError, "proof"),
    (BlockHashMismatch, "block hash"),
    (CarFormatError, "blocks"),
    (FrameError, "malformed"),
    (IdentityError, "key unavailable"),
    (TransportError, "key unavailable"),
)


def _epoch(stamp: str) -> float:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()
