"""Publish a named revision to the actor's own PDS: plan, then (when asked) apply.

The loop is plan → apply → done, where any interruption falls back to "plan again":
the plan is always recomputed from the PDS, so whatever landed before a swap conflict,
a rate limit, a crash or a kill is found there and never written twice.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.protocols import IdentityLike, Resolver
from lairs_etl.atproto.syntax import Did
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, PublishError, RateLimitedError, SwapConflictError
from lairs_etl.publish.apply import Progress, apply_calls
from lairs_etl.publish.batching import MAX_BODY_BYTES, MAX_WRITES, pack_calls
from lairs_etl.publish.blobs import BlobSource, blobs_needed, present_blobs, upload_blobs
from lairs_etl.publish.plan import LocalRecord, Plan, make_plan
from lairs_etl.publish.record import record_published
from lairs_etl.publish.report import PublishReport
from lairs_etl.publish.session import DEFAULT_PASSWORD_ENV, Session, password_from_env
from lairs_etl.publish.state import local_records, remote_state
from lairs_etl.repo.repository import Repository

__all__ = ["PublishOptions", "publish", "publish_records"]


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """How a publish behaves beyond what to publish.

    ``max_replans``: swap conflicts tolerated before giving up. ``rate_limit_wait``:
    total seconds a publish may wait for rate-limit resets. The reference PDS allows
    5,000 write points an hour and 35,000 a day (a create costs 3), so 10,000 creates
    take about six hourly windows: the default waits up to a day. ``sleep`` is injectable for tests;
    ``on_plan``/``on_call`` observe progress (the CLI prints, tests interrupt).
    """

    max_replans: int = 5
    rate_limit_wait: float = 24 * 3600.0
    max_writes: int = MAX_WRITES
    max_bytes: int = MAX_BODY_BYTES
    sleep: Callable[[float], None] = time.sleep
    on_plan: Callable[[Plan], None] | None = None
    on_call: Callable[[Progress], None] | None = field(default=None)


def publish(
    repo: Repository,
    rev: str,
    actor: str,
    *,
    apply: bool = False,
    client: XrpcClient,
    resolver: Resolver,
    password_env: str = DEFAULT_PASSWORD_ENV,
    password: Callable[[], str] | None = None,
    blob_source: BlobSource | None = None,
    record: bool = True,
    options: PublishOptions | None = None,
) -> PublishReport:
    """Make ``actor``'s PDS hold exactly its records at ``rev`` (dry run unless ``apply``).

    Args:
        repo: the local repository.
        rev: a branch, tag or commit CID (a named revision, not a working copy).
        actor: handle or DID; the session must authenticate as this DID.
        apply: write; otherwise only plan.
        client: the XRPC client for every call.
        resolver: resolves the actor to its DID and PDS.
        password_env: environment variable holding the app password.
        password: overrides ``password_env`` with another source (never a literal flag).
        blob_source: bytes of blobs the records use that the PDS lacks.
        record: after an apply, commit the matching PDS commit into the repository.
        options: retries, waits, caps and progress hooks.

    Raises:
        ConfigError: the revision has no records of the actor, or no password is set.
        NotFoundError: ``rev`` does not resolve.
        SwapConflictError: the PDS kept changing through ``max_replans`` re-plans.
        PublishError: a write failed or the rate-limit wait ran out; ``landed`` lists
            the writes that landed (a re-run finishes the job).
        IdentityError / TransportError / VerificationError: reading the PDS failed.
    """
    started = time.perf_counter()
    identity = resolver.resolve(actor)
    did = Did(identity.did)
    commit = repo.resolve(rev)
    if did not in repo.actors(commit):
        raise ConfigError(
            f"revision {rev} holds no records of {did}: publishing it would delete them all", actor=did
        )
    local = local_records(repo, commit.encode(), did)
    report = publish_records(
        local,
        identity,
        apply=apply,
        client=client,
        password=password or password_from_env(password_env),
        blob_source=blob_source,
        options=options,
        rev=rev,
    )
    recorded, note = None, None
    if apply and record and report.pds_commit is not None and report.pds_rev is not None:
        recorded, note = record_published(
            repo, rev, commit, did, pds_commit=report.pds_commit, pds_rev=report.pds_rev
        )
    return replace(
        report,
        commit=commit,
        recorded_commit=recorded,
        recorded_note=note,
        seconds=time.perf_counter() - started,
    )


def publish_records(
    local: Mapping[str, LocalRecord],
    identity: IdentityLike,
    *,
    apply: bool,
    client: XrpcClient,
    password: Callable[[], str],
    blob_source: BlobSource | None = None,
    options: PublishOptions | None = None,
    rev: str = "",
) -> PublishReport:
    """Publish records given as ``collection/rkey`` → :class:`LocalRecord` (no repository).

    Raises:
        The errors of :func:`publish`.
    """
    run = _Run(local, identity, client, blob_source, options or PublishOptions())
    if not apply:
        return run.report(run.loop(None), rev, applied=False)
    # Logging in waits on the PDS's password hashing: let it happen while the plan is made.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lairs-publish-login") as pool:
        login = _Login(pool, functools.partial(_login, client, identity.pds_url, run.did, password))
        return run.report(run.loop(login), rev, applied=True)


class _Login:
    """A login started in the background; asked again (after a 429), it logs in anew."""

    def __init__(self, pool: ThreadPoolExecutor, login: Callable[[], Session]) -> None:
        self._login = login
        self._pending: Future[Session] | None = pool.submit(login)

    def session(self) -> Session:
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else self._login()


class _Run:
    """One publish's loop state: plan, apply, and on interruption plan again."""

    def __init__(
        self,
        local: Mapping[str, LocalRecord],
        identity: IdentityLike,
        client: XrpcClient,
        blob_source: BlobSource | None,
        options: PublishOptions,
    ) -> None:
        self.local, self.identity, self.client = local, identity, client
        self.blob_source, self.opts = blob_source, options
        self.did = Did(identity.did)
        self.started = time.perf_counter()
        self.progress = Progress()
        self.first: Plan | None = None
        self.replans, self.waited, self.split = 0, 0.0, 0
        self.uploaded: list[Cid] = []

    def loop(self, login: _Login | None) -> Plan:
        """Plan, and with a ``login`` apply, until the PDS matches; returns the last plan."""
        opts, session = self.opts, None
        while True:
            try:  # a 429 anywhere (reading the PDS, logging in, writing) waits, then re-plans
                plan = make_plan(self.local, remote_state(self.identity, self.client))
                self.first = self.first or plan
                if opts.on_plan is not None:
                    opts.on_plan(plan)
                if login is None or plan.empty:
                    return plan
                batching = pack_calls(
                    plan.groups,
                    self.did,
                    depends=plan.depends,
                    max_writes=opts.max_writes,
                    max_bytes=opts.max_bytes,
                )
                self.split = max(self.split, batching.split_cycles)
                session = session or login.session()
                needed = blobs_needed(plan.writes)
                if needed:
                    present = present_blobs(self.client, self.identity.pds_url, self.did)
                    self.uploaded += upload_blobs(session, needed, present, self.blob_source)
                apply_calls(session, batching.calls, plan.base_commit, self.progress, on_call=opts.on_call)
                return plan
            except SwapConflictError:
                self.replans += 1
                if self.replans > opts.max_replans:
                    raise
            except RateLimitedError as exc:
                self._wait(exc)

    def _wait(self, exc: RateLimitedError) -> None:
        wait = max(exc.retry_after or 60.0, 1.0)
        if self.waited + wait > self.opts.rate_limit_wait:
            raise PublishError(
                f"rate limited; the next reset is {wait:.0f}s away, past the wait budget",
                actor=self.did,
                landed=tuple(self.progress.landed),
            ) from exc
        self.opts.sleep(wait)
        self.waited += wait

    def report(self, plan: Plan, rev: str, *, applied: bool) -> PublishReport:
        """The report once the loop ended with ``plan`` (empty when the PDS matches)."""
        assert self.first is not None
        pds_commit: Cid | None
        pds_rev: str | None
        if plan.empty:
            pds_commit, pds_rev = plan.base_commit, plan.base_rev
        else:  # applied: the last call's commit; a dry run leaves the PDS unmatched
            pds_commit, pds_rev = self.progress.commit, self.progress.rev
        return PublishReport(
            did=self.did,
            rev=rev,
            commit=None,
            plan=self.first,
            applied=applied,
            landed=tuple(self.progress.landed),
            calls=self.progress.calls,
            split_cycles=self.split,
            blobs_uploaded=tuple(self.uploaded),
            replans=self.replans,
            rate_limit_wait_seconds=self.waited,
            pds_commit=pds_commit,
            pds_rev=pds_rev,
            seconds=time.perf_counter() - self.started,
        )


def _login(client: XrpcClient, pds_url: str, did: Did, password: Callable[[], str]) -> Session:
    session = Session(client, pds_url, did, password)
    if session.did != did:
        raise PublishError(f"the app password logs in as {session.did}, not {did}", actor=did)
    return session
