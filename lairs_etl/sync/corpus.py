"""A corpus as a sync target: the actors its reference closure reaches, found from verified records.

A Layers corpus is a ``pub.layers.corpus.corpus`` record, the memberships that name it
(``corpusRef``) and everything those reach: each membership's expression, that
expression's parents and media, and every other ``at-uri`` the schema declares
(:func:`~lairs_etl.records.references.reference_strings`, the graph publish ordering
uses). Records that point *at* the corpus or at one of its member expressions
(memberships, annotation layers, segmentations, judgments, sub-expressions) belong to
it too. Without an index of the whole network (an appview, :mod:`.appview`) such
back-references can only be seen in the accounts the closure reads: those it reaches
by forward references (and those an appview names). An account the repository holds
that nothing in the corpus points at is not read.

The closure is read from the repository, i.e. from records that were fetched and
verified from their owners' PDSes; nothing a third party says is taken as a record.
:func:`sync_corpora` alternates engine runs and closures until no new actor appears,
at most :attr:`ClosureLimits.max_depth` rounds and :attr:`ClosureLimits.max_actors`
actors per corpus, so a reference cycle or a corpus pointing at half the network ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import ConfigError, InvalidIdentifier, LairsError, isolated
from lairs_etl.records.references import reference_strings
from lairs_etl.repo.reading import StoredRecord
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.appview import AppviewHints, AppviewLimits, appview_hints
from lairs_etl.sync.engine import LakeTarget, sync
from lairs_etl.sync.model import ActorSync, SyncOptions, SyncReport, Target

__all__ = [
    "CORPUS_COLLECTION",
    "FOUND_BY",
    "check_corpus_uri",
    "ClosureLimits",
    "CorpusClosure",
    "CorpusSync",
    "corpus_closure",
    "parse_corpus_uri",
    "sync_corpora",
]

CORPUS_COLLECTION = "pub.layers.corpus.corpus"
_MEMBERSHIP = "pub.layers.corpus.membership"
_EXPRESSION = "pub.layers.expression.expression"
#: How a closure finds records, said in every summary (an appview would find more).
FOUND_BY_REFERENCES = "forward references, and back-references within the accounts reached"
FOUND_BY = f"{FOUND_BY_REFERENCES} (no appview)"


@dataclass(frozen=True, slots=True)
class ClosureLimits:
    """How far a closure goes: rounds of actor hops from the corpus's owner, and actors in all."""

    max_depth: int = 4
    max_actors: int = 1000

    def __post_init__(self) -> None:
        if self.max_depth < 0 or self.max_actors < 1:
            raise ConfigError(f"closure limits must be max_depth >= 0 and max_actors >= 1, not {self}")


@dataclass(frozen=True, slots=True)
class CorpusClosure:
    """What one corpus reaches at a revision of the repository.

    ``actors``: every DID the closure reaches, the corpus's owner first, held or not;
    ``missing``: those the repository does not hold yet (to sync before the closure can
    go on through them); ``records``: held records in the closure; ``members``: the
    corpus's memberships; ``found``: whether the corpus record itself is held;
    ``truncated``: which limit stopped it (None: complete as far as forward references
    and held actors go).
    """

    corpus: str
    actors: tuple[str, ...]
    missing: tuple[str, ...]
    records: int
    members: int
    found: bool = False
    truncated: str | None = None
    found_by: str = FOUND_BY
    expressions: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The expressions in the closure (what an appview is asked about)."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary, as ``lairs-etl sync --corpus`` prints it."""
        return {
            "corpus": self.corpus,
            "found": self.found,
            "actors": list(self.actors),
            "missing": list(self.missing),
            "records": self.records,
            "members": self.members,
            "truncated": self.truncated,
            "found_by": self.found_by,
        }


def check_corpus_uri(uri: str) -> AtUri:
    """``uri`` parsed, if it names a ``pub.layers.corpus.corpus`` record (by DID or handle).

    Raises:
        ConfigError: not an AT-URI, or not one of a corpus record.
    """
    try:
        parsed = AtUri(uri)
    except InvalidIdentifier as exc:
        raise ConfigError(f"{uri!r} is not an AT-URI: {exc}") from exc
    if parsed.collection != CORPUS_COLLECTION or parsed.rkey is None:
        raise ConfigError(f"{uri} does not name a {CORPUS_COLLECTION} record")
    return parsed


def parse_corpus_uri(uri: str, resolver: Resolver | None = None) -> AtUri:
    """``uri`` as the AT-URI of a corpus record, its authority a DID (a handle is resolved).

    Raises:
        ConfigError: not the URI of a ``pub.layers.corpus.corpus`` record.
        IdentityError: the handle does not resolve.
    """
    parsed = check_corpus_uri(uri)
    if not parsed.authority.startswith("did:"):
        if resolver is None:
            raise ConfigError(f"{uri}: a corpus is named by its owner's DID here, not a handle")
        did = resolver.resolve(parsed.authority).did
        parsed = AtUri(f"at://{did}/{parsed.collection}/{parsed.rkey}")
    return parsed


def corpus_closure(
    repository: Repository,
    corpus: str,
    *,
    branch: str | None = None,
    limits: ClosureLimits | None = None,
    hinted: Iterable[str] = (),
) -> CorpusClosure:
    """The closure of ``corpus`` (a DID-based AT-URI) over the records held at ``branch``'s head.

    ``hinted`` actors (an appview's answers) are read too, so that their records which
    point at the corpus or its expressions are seen; they join the closure only through
    such records. The whole closure reads one revision (the branch head when it starts).
    Cost: every record of every held actor read is read once (the references of a
    record are only known from its content).

    Raises:
        ConfigError: ``corpus`` is not a DID-based AT-URI of a corpus record.
    """
    limits = limits or ClosureLimits()
    target = parse_corpus_uri(corpus)
    owner = str(target.did)
    graph = _Graph()
    head = repository.head(branch)  # one revision throughout, while a refresh may be committing
    if head is None:
        return CorpusClosure(corpus=str(target), actors=(owner,), missing=(owner,), records=0, members=0)
    order: list[str] = [owner]
    visited: set[str] = set()
    missing: list[str] = []
    truncated: str | None = None
    frontier = [owner]
    hints = [did for did in dict.fromkeys(hinted) if did != owner]
    for did, _ in repository.actors(head, dids=hints).items():
        visited.add(str(did))
        graph.add(repository.iter_records(head, dids=[did]))
    for depth in range(limits.max_depth + 1):
        held = repository.actors(head, dids=frontier) if frontier else {}
        for did in frontier:
            visited.add(did)
            if did in held:
                graph.add(repository.iter_records(head, dids=[did]))
            else:
                missing.append(did)
        reached = graph.reach(str(target))
        new = [did for did in _actors_of(reached) if did not in order]
        if not new:
            break
        if depth == limits.max_depth:
            truncated = "max_depth"
            break
        room = limits.max_actors - len(order)
        if len(new) > room:
            new, truncated = new[:room], "max_actors"
        order.extend(new)
        frontier = [did for did in new if did not in visited]
        if truncated:
            held = repository.actors(head, dids=frontier)
            missing.extend(did for did in frontier if did not in held)
            break
    reached = graph.reach(str(target))
    return CorpusClosure(
        corpus=str(target),
        actors=tuple(order),
        missing=tuple(dict.fromkeys(missing)),
        records=sum(1 for uri in reached if uri in graph.collection),
        members=graph.members(str(target), reached),
        found=str(target) in graph.collection,
        truncated=truncated,
        expressions=tuple(sorted(uri for uri in reached if graph.collection.get(uri) == _EXPRESSION)),
    )


class _Graph:
    """The references among the held records read so far, both ways, and each record's type."""

    def __init__(self) -> None:
        self.forward: dict[str, frozenset[str]] = {}
        self.back: dict[str, list[str]] = {}
        self.collection: dict[str, str] = {}

    def add(self, records: Iterable[StoredRecord]) -> None:
        for stored in records:
            uri, collection = str(stored.uri), str(stored.uri.collection)
            refs = frozenset(reference_strings(collection, stored.value()))
            self.collection[uri] = collection
            self.forward[uri] = refs
            for ref in refs:
                self.back.setdefault(ref, []).append(uri)

    def reach(self, corpus: str) -> set[str]:
        """Every URI the closure of ``corpus`` holds (see :func:`corpus_closure`).

        Forward references are followed from every record reached. Back-references only
        from the *inner* records: the corpus itself (its memberships) and its member
        expressions with their sub-expressions (the records annotating them). An
        expression reached otherwise (a member's parent document) brings no
        back-references, and a membership of another corpus is never taken: a shared
        expression does not pull in the corpora it also belongs to.
        """
        seen, inner, todo = {corpus}, {corpus}, [corpus]

        def take(uri: str, *, is_inner: bool = False) -> None:
            if is_inner and uri not in inner:
                inner.add(uri)
                todo.append(uri)  # again, if it was seen before: its back-references now count
            if uri not in seen:
                seen.add(uri)
                todo.append(uri)

        while todo:
            uri = todo.pop()
            refs = self.forward.get(uri, frozenset())
            member = self.collection.get(uri) == _MEMBERSHIP and corpus in refs
            for ref in refs:
                take(ref, is_inner=member and _collection_of(ref) == _EXPRESSION)
            if uri not in inner:
                continue
            for other in self.back.get(uri, ()):
                kind = self.collection.get(other)
                if kind == _MEMBERSHIP and corpus not in self.forward.get(other, ()):
                    continue  # another corpus's membership of a shared expression
                take(other, is_inner=kind == _EXPRESSION and uri != corpus)
        return seen

    def members(self, corpus: str, reached: set[str]) -> int:
        """The memberships of ``corpus`` among ``reached``."""
        return sum(
            1
            for uri in reached
            if self.collection.get(uri) == _MEMBERSHIP and corpus in self.forward.get(uri, ())
        )


def _did_key(actor: str, resolver: Resolver) -> str:
    """``actor`` as a DID (a handle resolved), so that one actor is one target.

    A handle that does not resolve stays as given: the engine then reports that actor
    failed, and the others go on.
    """
    if actor.startswith("did:"):
        return actor
    resolved = isolated(lambda: str(resolver.resolve(actor).did), actor=actor)
    return actor if isinstance(resolved, LairsError) else resolved


def _collection_of(uri: str) -> str:
    parts = uri.split("/", 4)
    return parts[3] if len(parts) > 3 else ""


def _actors_of(uris: Iterable[str]) -> list[str]:
    """The DIDs of ``uris`` (malformed or handle-based ones skipped), sorted for a stable order."""
    dids: set[str] = set()
    for uri in uris:
        try:
            dids.add(str(AtUri(uri).did))
        except InvalidIdentifier:  # malformed, or a handle: nothing to sync by
            continue
    return sorted(dids)


@dataclass(frozen=True, slots=True)
class CorpusSync:
    """A corpus sync: the engine's report over every round and each corpus's final closure."""

    report: SyncReport
    closures: tuple[CorpusClosure, ...]
    rounds: int
    appview: AppviewHints | None = None

    @property
    def ok(self) -> bool:
        """Whether every actor of the closures synced and every corpus record was found.

        An actor only an appview named that then failed (a lying appview's invented
        account) is reported in ``report`` but does not fail the corpus.
        """
        reached = {did for c in self.closures for did in c.actors}
        hinted = set(self.appview.actors) - reached if self.appview is not None else set()
        failed = [a for a in self.report.actors if not a.ok and (a.did or a.actor) not in hinted]
        lake_failed = any(a.lake_error is not None for a in self.report.actors)
        return not failed and not lake_failed and all(c.found for c in self.closures)

    def to_json(self) -> dict[str, object]:
        """The engine's summary with the closures and the number of rounds."""
        out: dict[str, object] = {
            **self.report.to_json(),
            "ok": self.ok,
            "rounds": self.rounds,
            "corpora": [c.to_json() for c in self.closures],
        }
        if self.appview is not None:
            out["appview"] = {
                "calls": self.appview.calls,
                "actors": len(self.appview.actors),
                "ignored": self.appview.ignored,
                "errors": self.appview.errors,
            }
        return out


def sync_corpora(
    corpora: Sequence[str],
    *,
    client: Client,
    resolver: Resolver,
    repository: Repository,
    lake: LakeTarget | None = None,
    options: SyncOptions | None = None,
    limits: ClosureLimits | None = None,
    extra: Sequence[Target] = (),
    appview_url: str | None = None,
    appview_limits: AppviewLimits | None = None,
    progress: Callable[[ActorSync], None] | None = None,
) -> CorpusSync:
    """Sync every actor the closures of ``corpora`` reach (and ``extra`` targets), round by round.

    Round 0 syncs the owners and the actors the repository already places in the
    closure; each later round syncs the actors that the records just committed newly
    reach, until none is new or the limits stop it. Each actor is synced once per call.
    With ``appview_url``, each round also asks the appview which actors hold records
    naming the corpus or its expressions (:mod:`.appview`): those actors are synced too,
    and their records join the closure only if what their PDS serves says so.

    Raises:
        ConfigError: a URI that does not name a corpus record.
        IdentityError: a corpus owner's handle does not resolve.
        RefConflictError: ``options.tag`` exists and names another commit.
    """
    options = options or SyncOptions()
    limits = limits or ClosureLimits()
    uris = [str(parse_corpus_uri(uri, resolver)) for uri in corpora]
    round_options = replace(options, tag=None)
    outcomes: list[ActorSync] = []
    done: set[str] = set()  # DIDs (and names as given) synced in full, or failed
    # Extra targets by DID: a handle and the DID the closure finds are one actor, and a
    # corpus actor is synced whole even when also named for a few collections.
    pending: dict[str, Target] = {_did_key(t.actor, resolver): t for t in extra}
    hints = AppviewHints() if appview_url is not None else None
    asked: set[str] = set()
    rounds = 0
    for _ in range(limits.max_depth + 3):
        hinted = list(hints.actors)[: limits.max_actors] if hints is not None else []
        closures = [
            corpus_closure(repository, uri, branch=options.branch, limits=limits, hinted=hinted)
            for uri in uris
        ]
        if hints is not None and appview_url is not None:
            ask_corpora = [uri for uri in uris if uri not in asked]
            ask_expressions = sorted({e for c in closures for e in c.expressions} - asked)
            asked.update(ask_corpora, ask_expressions)
            appview_hints(
                client,
                appview_url,
                corpora=ask_corpora,
                expressions=ask_expressions,
                limits=appview_limits,
                hints=hints,
            )
            hinted = list(hints.actors)[: limits.max_actors]
        for did in dict.fromkeys([*(did for c in closures for did in c.actors), *hinted]):
            if did not in done:
                pending[did] = Target(did)  # whole: replaces a partial extra target
        # Whole targets first: an extra target naming the same actor by a handle that did
        # not resolve here then asks for a subset of what the engine already synced.
        targets = sorted(
            (t for key, t in pending.items() if key not in done), key=lambda t: t.collections is not None
        )
        if not targets:
            break  # the closures just computed are the repository's: nothing synced since
        report = sync(
            targets,
            client=client,
            resolver=resolver,
            repository=repository,
            lake=lake,
            options=round_options,
            progress=progress,
        )
        rounds += 1
        outcomes.extend(report.actors)
        done.update(pending)
        done.update(a.did for a in report.actors if a.did is not None)
        pending = {}
    else:
        # The rounds ran out right after a sync: report what the repository now holds.
        closures = [
            corpus_closure(repository, uri, branch=options.branch, limits=limits, hinted=hinted)
            for uri in uris
        ]
    if appview_url is not None:
        via = f"{FOUND_BY_REFERENCES}, and the listings of the appview {appview_url} (verified at each PDS)"
        closures = [replace(c, found_by=via) for c in closures]
    # The head after every round, tagged (repository and lake) when a tag was asked,
    # whatever the rounds did: the tag names what this call left, reported with it.
    final = sync([], client=client, resolver=resolver, repository=repository, lake=lake, options=options)
    return CorpusSync(
        report=replace(final, actors=tuple(outcomes)), closures=tuple(closures), rounds=rounds, appview=hints
    )
