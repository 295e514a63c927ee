"""The one sync engine: targets in, a committed repository and an up-to-date lake out.

For a run's targets, :func:`sync`:

1. fetches, verifies and validates actors on ``workers`` threads
   (:func:`~lairs_etl.sync.actor.pull_actor`), a window of them ahead of the commits,
   so one actor's download overlaps the others' CPU work;
2. stages each actor on the branch head: a full fetch of every tracked collection
   replaces the actor's tree, a partial or incremental one puts and deletes only what
   it fetched, and what the repository knew of the collections not synced is kept;
3. commits once per ``commit_every`` staged records (one commit for a run below it);
4. writes the lake partitions those actors changed, from the records of the same pass
   (:mod:`.lake`), nothing read back or validated twice.

Every failure is one actor's (:func:`~lairs_etl.errors.isolated`): a failed fetch,
stage or lake write is reported for that actor and the others go on; a failed commit
fails the actors staged in it. Nothing here imports Dagster: the CLI and the assets
are thin callers of :func:`sync`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from lairs_etl.atproto import cbor
from lairs_etl.atproto.fetch import FetchResult
from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.atproto.syntax import AtUri, Nsid
from lairs_etl.errors import ChainBreakError, ConfigError, LairsError, isolated
from lairs_etl.repo.objects import ActorState, CollectionState
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance
from lairs_etl.sync.actor import Plan, Pulled, pull_actor, validate_all
from lairs_etl.sync.lake import HeldActor, HeldRecord, decoded_records, lake_holds, write_lake
from lairs_etl.sync.model import (
    ActorSync,
    CollectionSync,
    RecordProblem,
    Stage,
    Status,
    SyncOptions,
    SyncReport,
    Target,
)
from lairs_etl.views import (
    CatalogChoice,
    Manifest,
    MaterializeSummary,
    PartitionPatch,
    TableKey,
    partition_path,
)
from lairs_etl.views.invalid import INVALID_DATASET
from lairs_etl.views.layout import RECORDS_DATASET

__all__ = ["LakeTarget", "commit_fetched", "sync"]

Progress = Callable[[ActorSync], None]


class LakeTarget:
    """Where the lake is (any fsspec URL), the options to reach it, and its Iceberg catalog."""

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, object] | None = None,
        catalog: CatalogChoice | None = None,
    ) -> None:
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.catalog = catalog


def sync(
    targets: Sequence[Target],
    *,
    client: Client,
    resolver: Resolver,
    repository: Repository,
    lake: LakeTarget | None = None,
    options: SyncOptions | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Sync ``targets`` (see the module docstring); one outcome per target, in order.

    An actor named by several targets (its handle and its DID, say) is committed once
    and each of them reports that outcome (an identical target is also fetched once); a
    later target asking for collections the first did not fails with a ``ConfigError``.

    Raises:
        ConfigError / InvalidIdentifier: a bad branch, tag or collection name.
        RefConflictError: the tag exists and names another commit.
    """
    options = options or SyncOptions()
    # A run makes and drops millions of small acyclic objects (decoded records, rows,
    # nodes): with the collector on, its full collections walked the growing heap again
    # and again (a quarter of a 100,000-record sync). What survives is promoted unscanned.
    with cbor.paused_gc(promote=True):
        return _sync(targets, client, resolver, repository, lake, options, progress)


def _sync(  # noqa: PLR0917  # private: sync()'s arguments, passed through
    targets: Sequence[Target],
    client: Client,
    resolver: Resolver,
    repository: Repository,
    lake: LakeTarget | None,
    options: SyncOptions,
    progress: Progress | None,
) -> SyncReport:
    run = _Run(repository, lake, options, progress)
    if Stage.FETCHED not in options.stages:
        return run.lake_only(targets)
    work = functools.partial(
        pull_actor,
        client=client,
        resolver=resolver,
        base_of=run.base_of,
        snapshot_blocks=run.blocks,
        options=options,
        tracked=run.tracked,
    )
    # A target given more than once is fetched once; its later copies take that pull.
    keys = [(t.actor, None if t.collections is None else tuple(t.collections)) for t in targets]
    left = Counter(keys)
    unique: dict[tuple[str, tuple[str, ...] | None], Target] = {}
    for key, target in zip(keys, targets, strict=True):
        unique.setdefault(key, target)
    pulls = _ordered_map(work, list(unique.values()), options.workers)
    taken: dict[tuple[str, tuple[str, ...] | None], Pulled | LairsError] = {}
    for index, (key, target) in enumerate(zip(keys, targets, strict=True)):
        pulled = taken.pop(key) if key in taken else next(pulls)
        left[key] -= 1
        if left[key]:  # held only until its last copy is taken
            taken[key] = pulled
        run.take(index, target, pulled)
    run.flush()
    run.catch_up_lake()
    return run.report(targets)


def commit_fetched(
    results: Sequence[FetchResult],
    *,
    repository: Repository,
    lake: LakeTarget | None = None,
    options: SyncOptions | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Validate, stage, commit and write to the lake records verified elsewhere.

    The firehose proves each commit from its own frame, so there is nothing to fetch;
    what it proved takes the same path as a fetch from here on (validation once,
    staging on the head, chunked commits, lake patches), which is what keeps the
    repository and lake the firehose builds equal to the ones a batch sync builds. A
    result with ``since`` set is a delta on the actor's state in the repository, which
    must be at that rev (else the actor fails with a ``ChainBreakError``); one without
    replaces the actor's records (empty: a deleted account's tombstone).

    Raises:
        ConfigError: two results are of one actor (merge an actor's changes first:
            each result applies to the state the run started from).
    """
    several = sorted(did for did, times in Counter(str(r.did) for r in results).items() if times > 1)
    if several:
        raise ConfigError(f"commit_fetched takes one result per actor; several for {', '.join(several[:5])}")
    options = options or SyncOptions()
    with cbor.paused_gc(promote=True):
        run = _Run(repository, lake, options, progress)
        targets = [Target(str(result.did)) for result in results]
        wanted = tuple(Nsid(c) for c in run.tracked)
        for index, result in enumerate(results):
            base = run.base_of.get(result.did)
            if result.since is not None and (base is None or base.pds_rev != result.since):
                # A delta applies only to the state it was taken from; anything else
                # (another run committed the actor meanwhile) would rebase it wrongly.
                held = "nothing" if base is None else f"rev {base.pds_rev}"
                error = ChainBreakError(
                    f"changes since rev {result.since}, the repository holds {held}",
                    reason="desynchronized",
                    actor=result.did,
                )
                run._done(index, _failed(targets[index], error))
                continue
            kind: Literal["incremental", "full"] = "incremental" if result.since is not None else "full"
            pulled = Pulled(targets[index], result.did, wanted, Plan(kind, result.since), base, result=result)
            started = time.perf_counter()
            pulled.verdicts = validate_all((str(r.uri), r.value) for r in result.records)
            pulled.seconds[Stage.VALIDATED] = time.perf_counter() - started
            run.take(index, targets[index], pulled)
        run.flush()
        return run.report(targets)


def _import_in_background(module: str) -> None:
    """Start importing ``module`` on a daemon thread, to overlap the first fetch.

    The lake writer needs pyiceberg, whose import takes about a second; the fetch that
    comes first waits on the network. Python's import lock makes the writer's own import
    wait for this one to finish rather than run it twice.
    """

    def load() -> None:
        with contextlib.suppress(ImportError):  # the writer's own import will say why
            importlib.import_module(module)

    threading.Thread(target=load, daemon=True, name="lairs-import").start()


class _Run:
    """The state of one run between its fetches and its commits."""

    def __init__(
        self, repository: Repository, lake: LakeTarget | None, options: SyncOptions, progress: Progress | None
    ) -> None:
        from lairs_etl.records import record_types  # heavy (pydantic models): on use

        self.repository = repository
        self.lake = lake if Stage.PARQUET in options.stages else None
        if self.lake is not None:
            _import_in_background("lairs_etl.views.iceberg")
        self.options = options
        self.progress = progress
        self.tracked = tuple(sorted(options.tracked or record_types()))
        self.branch = options.branch or repository.default_branch
        head = repository.head(self.branch)
        self.base_of: dict[str, ActorState] = dict(repository.actors(head)) if head is not None else {}
        self.blocks = repository.blocks(head) if head is not None else None
        self.outcomes: dict[int, ActorSync] = {}
        self.pending: list[_Staged] = []
        self.staged = 0
        self.unchanged: list[int] = []
        """Unchanged actors of a run that writes the lake: :meth:`catch_up_lake` looks at them."""
        self.first_of: dict[str, tuple[int, frozenset[str]]] = {}
        """Each actor's first target in this run and its collections (see :meth:`_alias`)."""
        self.aliases: dict[int, list[tuple[int, str]]] = {}
        """Per first target, the later ones naming the same actor: index and name."""
        self.reported: set[int] = set()
        """The targets whose final outcome is known (given to ``progress``)."""

    # -- one actor at a time -------------------------------------------------------------

    def take(self, index: int, target: Target, pulled: Pulled | LairsError) -> None:
        if isinstance(pulled, LairsError):
            self._done(index, _failed(target, pulled))
            return
        wanted = frozenset(str(c) for c in pulled.wanted)
        first, first_wanted = self.first_of.setdefault(str(pulled.did), (index, wanted))
        if first != index:
            self._alias(first, index, target, pulled, covered=wanted <= first_wanted)
            return
        if pulled.plan.kind == "unchanged":
            outcome = _unchanged(pulled)
            if self.lake is not None:
                self.unchanged.append(index)
                self.outcomes[index] = outcome  # reported once the lake is known to hold it
            else:
                self._done(index, outcome)
            return
        if Stage.COMMITTED not in self.options.stages:
            self._done(index, self._outcome(pulled, Status.FETCHED, None))
            return
        staged = isolated(functools.partial(self._stage_and_hold, index, pulled), actor=pulled.did)
        if isinstance(staged, LairsError):
            self.repository.discard(pulled.did)
            self._done(index, _failed(pulled.target, staged, pulled))
            return
        self.pending.append(staged)
        self.staged += staged.writes
        if self.staged >= self.options.commit_every:
            self.flush()

    def _alias(self, first: int, index: int, target: Target, pulled: Pulled, *, covered: bool) -> None:
        """Target ``index`` names the actor of target ``first`` again (its handle and DID, say).

        An actor is staged once per run: a second staging would replace the first's, or,
        failing, discard it while the first was reported committed. A later name asking
        for no collection the first did not gets the first's outcome; one asking for
        more fails, as one run cannot sync both from one base.
        """
        if not covered:
            error = ConfigError(
                f"{pulled.did} is also target {first + 1} of this run, which asks for other "
                "collections: name each actor once, with every collection to sync",
                actor=pulled.did,
            )
            self._done(index, _failed(target, error, pulled))
            return
        self.aliases.setdefault(first, []).append((index, target.actor))
        if first in self.reported:
            self._report_aliases(first)

    def _stage_and_hold(self, index: int, pulled: Pulled) -> _Staged:
        """Stage ``pulled``, then keep only what its commit and lake write need.

        The outcome's counts and the lake's records are taken now and the fetched
        records dropped, so a commit does not also hold every fetched record and its
        URI (a large sync's peak memory was in its commit).
        """
        writes = self._stage(pulled)
        counted = self._outcome(pulled, Status.FETCHED, None)
        held = _held(pulled, self.tracked) if self.lake is not None else None
        pulled.release_records()
        return _Staged(index, pulled, writes, counted, held)

    def _stage(self, pulled: Pulled) -> int:
        """Stage ``pulled`` on the repository (not committed yet); returns how many records."""
        result = pulled.result
        assert result is not None  # not unchanged
        full = pulled.plan.kind == "full" and set(self.tracked) <= set(pulled.wanted)
        records = result.records
        # A generator: a list of every record's put would be held beside the stage it
        # becomes (a large sync's peak memory).
        puts = ((str(r.uri.collection), str(r.uri.rkey), r.cid, r.block) for r in records)
        deleted = [(str(u.collection), str(u.rkey)) for u in result.deleted]
        if pulled.plan.kind == "full" and not full and pulled.base is not None:
            fresh = {(str(r.uri.collection), str(r.uri.rkey)) for r in records}
            head = self.repository.head(self.branch)
            for stored in self.repository.iter_records(head, dids=[pulled.did], collections=pulled.wanted):
                key = (str(stored.uri.collection), str(stored.uri.rkey))
                if key not in fresh:
                    deleted.append(key)
        states = self._collection_states(pulled)
        pulled.collection_states = states
        provenance = _provenance(pulled, states, self.tracked, whole=full)
        # The PDS's own verified tree holds exactly these records: adopted, not rebuilt.
        tree = (result.data, result.tree) if full and result.tree and result.data is not None else None
        self.repository.stage(
            pulled.did, puts, replace=full, deleted=deleted, provenance=provenance, verify=False, tree=tree
        )
        return len(records) + len(deleted)

    def _collection_states(self, pulled: Pulled) -> dict[str, CollectionState]:
        """Each wanted collection's rev and counts after this sync (incremental: by delta)."""
        result = pulled.result
        assert result is not None
        counts: dict[str, list[int]] = {str(c): [0, 0] for c in pulled.wanted}
        for record in result.records:
            tally = counts.setdefault(str(record.uri.collection), [0, 0])
            tally[0 if not pulled.verdicts.get(str(record.uri)) else 1] += 1
        unknown: set[str] = set()
        if pulled.plan.kind == "incremental" and pulled.base is not None:
            unknown = self._apply_delta(pulled, counts)
        rev = result.rev
        return {
            c: CollectionState(rev, None, None) if c in unknown else CollectionState(rev, valid, invalid)
            for c, (valid, invalid) in counts.items()
        }

    def _apply_delta(self, pulled: Pulled, counts: dict[str, list[int]]) -> set[str]:
        """Counts after an incremental fetch: the base's, less the old versions of touched records.

        Returns the collections whose base counts were unknown (their counts stay unknown:
        a delta alone is not a count).
        """
        base = pulled.base
        assert base is not None
        assert pulled.result is not None
        touched = [r.uri for r in pulled.result.records] + list(pulled.result.deleted)
        head = self.repository.head(self.branch)
        stored = self.repository.read_records(head, pulled.did, (str(u) for u in touched))
        old: list[tuple[str, object]] = []
        for uri in touched:
            rkeys, size = pulled.replaced.setdefault(str(uri.collection), (set(), 0))
            rkeys.add(str(uri.rkey))
            before = stored.get(str(uri))
            if before is None:
                continue  # created by this change: nothing to take back
            pulled.replaced[str(uri.collection)] = (rkeys, size + len(before.block))
            old.append((str(uri), before.value()))
        olds = validate_all(old)
        unknown: set[str] = set()
        for collection, tally in counts.items():
            known = base.collection(collection)
            if known is None or known.valid_count is None or known.invalid_count is None:
                unknown.add(collection)
                continue
            tally[0] += known.valid_count
            tally[1] += known.invalid_count
        for key, _ in old:
            name = str(AtUri(key).collection)
            if name in counts:
                counts[name][0 if not olds.get(key) else 1] -= 1
        return unknown

    # -- commits -------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit what is staged, then write those actors' lake partitions."""
        if not self.pending:
            return
        pending, self.pending, self.staged = self.pending, [], 0
        started = time.perf_counter()
        message = _message([str(p.pulled.did) for p in pending])
        landed = isolated(lambda: self.repository.commit(message, self.options.author, branch=self.branch))
        spent = time.perf_counter() - started
        if isinstance(landed, LairsError):
            self.repository.discard()
            for staged in pending:
                self._done(staged.index, _failed(staged.pulled.target, landed, staged.pulled))
            return
        commit = landed.encode()
        total = sum(p.counted.records for p in pending) or 1
        outcomes: list[tuple[int, ActorSync, float]] = []
        for staged in pending:
            share = staged.counted.records / total
            seconds = staged.pulled.seconds
            seconds[Stage.COMMITTED] = spent * share
            committed = replace(staged.counted, status=Status.COMMITTED, commit=commit, seconds=dict(seconds))
            outcomes.append((staged.index, committed, share))
        lake = self._write_lake(commit, pending) if self.lake is not None else None
        for index, outcome, share in outcomes:
            located = outcome if lake is None else _with_lake(outcome, lake, self.lake, share)  # type: ignore[arg-type]
            self._done(index, located)

    def _write_lake(self, commit: str, pending: Sequence[_Staged]) -> MaterializeSummary | LairsError:
        assert self.lake is not None
        held = {str(p.pulled.did): p.held for p in pending if p.held is not None}
        lake = self.lake
        return isolated(
            lambda: write_lake(
                self.repository,
                commit,
                held,
                lake.url,
                storage_options=lake.storage_options,
                catalog=lake.catalog,
                branch=self.branch,
            )
        )

    def catch_up_lake(self) -> None:
        """Make the lake hold what the repository does for the run's unchanged actors.

        An earlier run may have stopped between its commit and its lake write (a crash,
        a failed lake): an actor whose partitions the manifest does not say were written
        from its current tree is rewritten from the repository.
        """
        from lairs_etl.views import RepositorySource, materialize, read_manifest

        if self.lake is None or not self.unchanged:
            return
        lake = self.lake
        manifest = isolated(lambda: read_manifest(lake.url, lake.storage_options))
        lagging: dict[str, frozenset[str] | None] = {}
        known = None if isinstance(manifest, LairsError) else manifest
        for index in self.unchanged:
            outcome = self.outcomes[index]
            did = outcome.did or outcome.actor
            state = self.base_of.get(did)
            if not lake_holds(self.repository, known, did, None if state is None else state.root):
                lagging[did] = None
        summary: MaterializeSummary | LairsError | None = None
        head = self.repository.head(self.branch)
        if lagging and head is not None:
            source = RepositorySource(self.repository, head.encode())
            summary = isolated(
                lambda: materialize(
                    source, lake.url, storage_options=lake.storage_options, dids=lagging, catalog=lake.catalog
                )
            )
        for index in self.unchanged:
            outcome = self.outcomes[index]
            if summary is not None and (outcome.did or outcome.actor) in lagging:
                self._done(index, _with_lake(outcome, summary, lake, 1.0))
            elif isinstance(manifest, LairsError):
                self._done(index, replace(outcome, lake_error=f"{manifest.type_name}: {manifest}"))
            elif manifest is not None:
                self._done(index, _with_problems(_located(outcome, manifest, lake), lake, self.options))
            else:
                self._done(index, outcome)

    def lake_only(self, targets: Sequence[Target]) -> SyncReport:
        """A run of the lake stage alone: the partitions of ``targets`` from the branch head."""
        from lairs_etl.views import RepositorySource, materialize

        head = self.repository.head(self.branch)
        if self.lake is None or head is None:
            return self.report(targets)
        scope = {t.actor: (frozenset(t.collections) if t.collections else None) for t in targets}
        lake = self.lake
        summary = isolated(
            lambda: materialize(
                RepositorySource(self.repository, head.encode()),
                lake.url,
                storage_options=lake.storage_options,
                dids=scope,
                catalog=lake.catalog,
            )
        )
        for index, target in enumerate(targets):
            wanted = target.collections or self.tracked
            outcome = ActorSync(
                target.actor,
                Status.COMMITTED,
                did=target.actor,
                commit=head.encode(),
                collections=tuple(CollectionSync(c) for c in sorted(wanted)),
            )
            self._done(index, _with_lake(outcome, summary, lake, 1.0))
        return self.report(targets)

    # -- outcomes ------------------------------------------------------------------------

    def _outcome(self, pulled: Pulled, status: Status, commit: str | None) -> ActorSync:
        result = pulled.result
        assert result is not None
        states = pulled.collection_states
        fetched: dict[str, int] = {}
        problems: dict[str, list[RecordProblem]] = {}
        problem_count: dict[str, int] = {}
        for record in result.records:
            collection = str(record.uri.collection)
            fetched[collection] = fetched.get(collection, 0) + 1
            for diagnostic in pulled.verdicts.get(str(record.uri), ()):
                problem_count[collection] = problem_count.get(collection, 0) + 1
                sample = problems.setdefault(collection, [])
                if len(sample) < self.options.problems_per_collection:
                    sample.append(
                        RecordProblem(
                            str(record.uri),
                            record.cid.encode(),
                            diagnostic.path,
                            diagnostic.code,
                            diagnostic.message,
                        )
                    )
        deleted: dict[str, int] = {}
        for uri in result.deleted:
            deleted[str(uri.collection)] = deleted.get(str(uri.collection), 0) + 1
        collections = []
        for collection in pulled.wanted:
            name = str(collection)
            state = states.get(name)
            valid = state.valid_count if state is not None and state.valid_count is not None else 0
            invalid = state.invalid_count if state is not None and state.invalid_count is not None else 0
            if state is None:  # not staged (an earlier-stages run): what was fetched
                invalid = sum(
                    1 for r in result.records if r.uri.collection == name and pulled.verdicts.get(str(r.uri))
                )
                valid = fetched.get(name, 0) - invalid
            collections.append(
                CollectionSync(
                    name,
                    records=fetched.get(name, 0),
                    valid=valid,
                    invalid=invalid,
                    deleted=deleted.get(name, 0),
                    problems=tuple(problems.get(name, ())),
                    problem_count=problem_count.get(name, 0),
                )
            )
        return ActorSync(
            pulled.target.actor,
            status,
            did=str(pulled.did),
            mode=result.mode,
            incremental=result.since is not None,
            rev=result.rev,
            commit=commit,
            records=len(result.records),
            deleted=len(result.deleted),
            valid=sum(c.valid for c in collections),
            invalid=sum(c.invalid for c in collections),
            bytes_fetched=result.bytes_transferred,
            seconds=dict(pulled.seconds),
            collections=tuple(collections),
            authenticated=result.authenticated,
        )

    def _done(self, index: int, outcome: ActorSync) -> None:
        self.outcomes[index] = outcome
        self.reported.add(index)
        if self.progress is not None:
            self.progress(outcome)
        self._report_aliases(index)

    def _report_aliases(self, first: int) -> None:
        """The outcome of target ``first``, under each later name of its actor."""
        for index, actor in self.aliases.pop(first, ()):
            self._done(index, replace(self.outcomes[first], actor=actor))

    def _tag_lake(self, head: str) -> None:
        """The new repository tag as an Iceberg tag, when the lake now holds ``head`` throughout.

        A lake that does not (actors left out of this run) gets it from the write that
        completes it; a failure here never undoes the run, whose commit has landed.
        """
        from lairs_etl.views import RepositorySource, mirror_tags

        lake = self.lake
        if lake is not None:
            isolated(
                lambda: mirror_tags(
                    RepositorySource(self.repository, head),
                    lake.url,
                    storage_options=lake.storage_options,
                    catalog=lake.catalog,
                )
            )

    def report(self, targets: Sequence[Target]) -> SyncReport:
        """The run's outcomes in target order, the head after it, the tag if one was asked."""
        head = self.repository.head(self.branch)
        tag = self.options.tag
        if tag is not None and head is not None:
            self.repository.tag(tag, head.encode())
            self._tag_lake(head.encode())
        return SyncReport(
            branch=self.branch,
            commit=None if head is None else head.encode(),
            actors=tuple(self.outcomes[i] for i in range(len(targets))),
            tag=tag if head is not None else None,
            lake=None if self.lake is None else self.lake.url,
        )


# -- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Staged:
    """An actor staged and waiting for its commit: its outcome so far and its lake records.

    ``writes``: records put and deleted (what :attr:`SyncOptions.commit_every` counts).
    """

    index: int
    pulled: Pulled
    writes: int
    counted: ActorSync
    held: HeldActor | None


def _ordered_map(
    work: Callable[[Target], Pulled], targets: Sequence[Target], workers: int
) -> Iterator[Pulled | LairsError]:
    """``work`` over ``targets`` on threads, results in order, at most ``2 * workers`` waiting."""
    width = max(1, workers)
    with ThreadPoolExecutor(width, thread_name_prefix="lairs-etl-sync") as pool:
        window: deque[Future[Pulled | LairsError]] = deque()
        for target in targets:
            window.append(pool.submit(isolated, functools.partial(work, target), actor=target.actor))
            if len(window) >= 2 * width:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _provenance(
    pulled: Pulled, synced: Mapping[str, CollectionState], tracked: Sequence[str], *, whole: bool
) -> Provenance:
    """The actor's provenance: what the base knew of its collections, updated by this sync.

    The actor-wide rev and counts are set only when every tracked collection agrees on
    one rev and has counts: a partial sync of an actor synced earlier keeps them true.
    """
    result = pulled.result
    assert result is not None
    base = pulled.base
    known: dict[str, CollectionState] = {}
    if base is not None and not whole:
        known.update(base.collections)
        if not base.collections and base.pds_rev is not None:  # a state before per-collection provenance
            known.update((c, CollectionState(base.pds_rev)) for c in tracked)
    known.update(synced)
    states = [known.get(c) for c in tracked]
    revs = {s.rev if s is not None else None for s in states}
    rev = revs.pop() if len(revs) == 1 else None
    counted = all(s is not None and s.valid_count is not None and s.invalid_count is not None for s in states)
    return Provenance(
        pds_commit=result.commit if rev is not None else (base.pds_commit if base is not None else None),
        pds_rev=rev,
        valid_count=sum(s.valid_count or 0 for s in states if s is not None) if counted else None,
        invalid_count=sum(s.invalid_count or 0 for s in states if s is not None) if counted else None,
        collections=tuple(sorted(known.items())),
        # The PDS's data root whenever this sync saw the whole tracked set at one rev: the
        # planner compares it with the local root to know whether a diff can apply.
        pds_data=result.data
        if whole or pulled.plan.kind == "incremental"
        else (base.pds_data if base is not None else None),
    )


def _held(pulled: Pulled, tracked: Sequence[str]) -> HeldActor:
    """The pass's records of one actor, as the lake writer takes them.

    A full sync holds whole collections; an incremental one holds, per changed
    collection, the patch to the lake's partition (the lake writer checks that the lake
    holds the state it starts from).
    """
    result = pulled.result
    assert result is not None
    full = pulled.plan.kind == "full"
    by_collection: dict[str, list[HeldRecord]] = {str(c): [] for c in pulled.wanted} if full else {}
    verdicts = pulled.verdicts
    for record in result.records:
        uri = record.uri
        by_collection.setdefault(str(uri.collection), []).append(
            HeldRecord(str(uri.rkey), record.cid, record.block, verdicts.get(uri, ()))
        )
    for rows in by_collection.values():
        rows.sort(key=lambda r: r.rkey)
    changed = {str(r.uri.collection) for r in result.records} | {str(u.collection) for u in result.deleted}
    whole = full and set(tracked) <= set(pulled.wanted)
    scope = None if whole else frozenset(changed if not full else {str(c) for c in pulled.wanted})
    if full:
        return HeldActor(complete=whole, records=by_collection, changed=scope)
    held = HeldActor(complete=False, records=by_collection)
    patches = {
        c: PartitionPatch(
            frozenset(rkeys),
            size,
            list(decoded_records(str(pulled.did), held, [c])) if c in by_collection else [],
        )
        for c, (rkeys, size) in pulled.replaced.items()
    }
    base = pulled.base
    return HeldActor(
        complete=False,
        changed=scope,
        patches=patches,
        base_root=None if base is None else base.root,
    )


def _with_lake(
    outcome: ActorSync, lake: MaterializeSummary | LairsError, target: LakeTarget, share: float
) -> ActorSync:
    """The outcome with its lake partitions (rows, paths) or the lake's failure."""
    seconds = dict(outcome.seconds)
    if isinstance(lake, LairsError):
        return replace(outcome, lake_error=f"{lake.type_name}: {lake}")
    seconds[Stage.PARQUET] = lake.seconds * share
    failed = {did: error for did, error in lake.failed}
    if outcome.did in failed:
        error = failed[outcome.did]
        return replace(outcome, seconds=seconds, lake_error=f"{error.type_name}: {error}")
    return _located(replace(outcome, seconds=seconds), lake.manifest, target)


def _with_problems(outcome: ActorSync, lake: LakeTarget, options: SyncOptions) -> ActorSync:
    """An unchanged actor's diagnostics sample, from the lake's ``invalid`` files (nothing fetched)."""
    from lairs_etl.views.invalid import read_problems

    collections = []
    for known in outcome.collections:
        current = known
        if known.invalid and known.invalid_path is not None and not known.problems:
            read = functools.partial(
                read_problems, known.invalid_path, lake.storage_options, limit=options.problems_per_collection
            )
            found = isolated(read)
            if not isinstance(found, LairsError):
                sample, count = found
                current = replace(
                    known, problems=tuple(RecordProblem(*row) for row in sample), problem_count=count
                )
        collections.append(current)
    return replace(outcome, collections=tuple(collections))


def _located(outcome: ActorSync, manifest: Manifest, target: LakeTarget) -> ActorSync:
    """The outcome with each collection's lake rows and paths, as the manifest states them."""
    did = outcome.did or outcome.actor

    def located(dataset: str, collection: str) -> tuple[int, str | None]:
        key = TableKey(dataset, collection)
        entry = manifest.table(key)
        if entry is None or did not in entry.partitions or did not in entry.files:
            return 0, None
        return entry.partitions[did], partition_path(target.url, key, entry.version, did, entry.files[did])

    collections = []
    for c in outcome.collections:
        rows, path = located(RECORDS_DATASET, c.collection)
        _, invalid_path = located(INVALID_DATASET, c.collection)
        collections.append(replace(c, lake_rows=rows, lake_path=path, invalid_path=invalid_path))
    return replace(outcome, collections=tuple(collections))


def _unchanged(pulled: Pulled) -> ActorSync:
    base = pulled.base
    collections = []
    for collection in pulled.wanted:
        state = base.collection(collection) if base is not None else None
        collections.append(
            CollectionSync(
                str(collection),
                valid=state.valid_count or 0 if state is not None else 0,
                invalid=state.invalid_count or 0 if state is not None else 0,
            )
        )
    return ActorSync(
        pulled.target.actor,
        Status.UNCHANGED,
        did=str(pulled.did),
        rev=None if base is None else base.pds_rev,
        seconds=dict(pulled.seconds),
        collections=tuple(collections),
        valid=sum(c.valid for c in collections),
        invalid=sum(c.invalid for c in collections),
    )


def _failed(target: Target, error: LairsError, pulled: Pulled | None = None) -> ActorSync:
    from lairs_etl.errors import VerificationError

    return ActorSync(
        target.actor,
        Status.FAILED,
        did=error.actor if pulled is None else str(pulled.did),
        seconds={} if pulled is None else dict(pulled.seconds),
        collections=tuple(CollectionSync(str(c)) for c in (pulled.wanted if pulled is not None else ())),
        verified=not isinstance(error, VerificationError),
        error=str(error),
        error_type=error.type_name,
    )


def _message(dids: Sequence[str]) -> str:
    shown = ", ".join(dids[:5]) + (f" and {len(dids) - 5} more" if len(dids) > 5 else "")
    return f"sync {len(dids)} actor{'s' if len(dids) != 1 else ''}: {shown}"
