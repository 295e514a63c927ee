"""Pull: fetch actors' records verified, count their validity, commit them one actor at a time.

Each actor is its own commit, so one actor's failure (unreachable PDS, a failed
signature, a budget spent, a lost ref race past the retries, or any other exception
its peer's data provokes) is reported and the others still land.

Incremental pulls start from the actor's state in the repository. When its recorded
``pds_rev`` is still the PDS head, nothing is fetched. Otherwise the pull asks for the
blocks written since that rev (``getRepo?since``) and diffs the new tree against the
committed one, whose blocks the repository already holds. That works when the local
tree *is* the PDS tree (every collection of the actor tracked: the Layers-only case);
otherwise the diff meets a node the repository never stored, and the pull falls back
to a full fetch, which re-verifies everything, so the fallback is never less safe.

Validity is counted, never used to drop data: every verified record is committed, and
the actor's state carries how many records are valid and invalid against the lexicons
whose hash it records.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch import CollectionFilter, FetchedRecord, FetchResult, fetch_actor
from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import (
    ConfigError,
    LairsError,
    NotFoundError,
    TransportError,
    UnexpectedError,
    isolated,
)
from lairs_etl.repo.blocksource import OverlayBlocks
from lairs_etl.repo.objects import ActorState
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

__all__ = ["ActorPull", "PullReport", "pull"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActorPull:
    """What happened to one actor: ``committed``, ``unchanged`` or ``failed``."""

    actor: str
    status: str
    did: str | None = None
    commit: str | None = None
    mode: str | None = None
    incremental: bool = False
    records: int = 0
    deleted: int = 0
    valid: int | None = None
    invalid: int | None = None
    root: str | None = None
    pds_data: str | None = None
    pds_rev: str | None = None
    error: str | None = None
    error_type: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (``None`` fields dropped)."""
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


@dataclass(frozen=True, slots=True)
class PullReport:
    """The head after the pull, the tag made (if any), and each actor's outcome."""

    commit: str | None
    branch: str
    actors: tuple[ActorPull, ...] = field(default=())
    tag: str | None = None

    @property
    def ok(self) -> bool:
        """Whether no actor failed."""
        return all(a.status != "failed" for a in self.actors)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "commit": self.commit, "branch": self.branch, "tag": self.tag, "ok": self.ok,
            "actors": [a.to_json() for a in self.actors],
        }


def pull(
    repo: Repository,
    actors: Iterable[str],
    *,
    client: Client,
    resolver: Resolver,
    collections: Iterable[str] | None = None,
    branch: str | None = None,
    author: str = "lairs-etl pull",
    tag: str | None = None,
    incremental: bool = True,
    progress: Callable[[ActorPull], None] | None = None,
) -> PullReport:
    """Pull each actor into ``branch`` (one commit per changed actor), then maybe tag the head.

    Raises:
        ConfigError / InvalidIdentifier: bad collections, branch or tag name.
        RefConflictError: the tag exists and names another commit.
    """
    name = branch or repo.default_branch
    tracked = CollectionFilter.of(collections) if collections is not None else None
    outcomes = []
    for actor in actors:
        def one(actor: str = actor) -> ActorPull:
            return _pull_one(repo, actor, client, resolver, tracked, name, author, incremental)

        outcome = isolated(one)
        if isinstance(outcome, LairsError):
            if isinstance(outcome, UnexpectedError):
                _log.error("pulling %s failed unexpectedly", actor, exc_info=outcome.__cause__)
            repo.discard()  # nothing the failed actor staged rides along with the next commit
            outcome = ActorPull(
                actor, "failed", did=outcome.actor, error=str(outcome), error_type=outcome.type_name
            )
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    head = repo.head(name)
    made = None
    if tag is not None and head is not None:
        repo.tag(tag, head.encode())
        made = tag
    return PullReport(None if head is None else head.encode(), name, tuple(outcomes), made)


def _pull_one(  # noqa: PLR0917  # private: pull()'s arguments, in order
    repo: Repository,
    actor: str,
    client: Client,
    resolver: Resolver,
    tracked: CollectionFilter | None,
    branch: str,
    author: str,
    incremental: bool,
) -> ActorPull:
    identity = resolver.resolve(actor)
    did = Did(identity.did)
    head = repo.head(branch)
    base = repo.actors(head).get(did) if head is not None else None
    result = None
    if incremental and head is not None and base is not None and base.pds_rev is not None:
        if _latest_rev(client, identity.pds_url, did) == base.pds_rev:
            return ActorPull(actor, "unchanged", did=did, pds_rev=base.pds_rev, root=base.root.encode())
        result = _fetch_since(repo, actor, base, client, resolver, tracked, head)
    valid: int | None
    invalid: int | None
    if result is None or head is None or base is None:
        result = fetch_actor(actor, collections=tracked, client=client, resolver=resolver)
        valid, invalid = _validity(result.records)
    else:
        valid, invalid = _validity_delta(repo, head, base, result)
    since = result.since is not None
    provenance = Provenance(
        fetched_at=_now(), pds_commit=result.commit, pds_rev=result.rev,
        valid_count=valid, invalid_count=invalid,
    )
    records = ((*_parts(r.uri), r.cid, r.block) for r in result.records)
    deleted = [_parts(uri) for uri in result.deleted]
    repo.stage(did, records, replace=not since, deleted=deleted, provenance=provenance, verify=False)
    message = f"pull {did} at rev {result.rev}" if result.rev else f"pull {did}"
    commit = repo.commit(message, author, branch=branch)
    state = repo.actors(commit)[did]
    return ActorPull(
        actor, "committed", did=did, commit=commit.encode(), mode=result.mode, incremental=since,
        records=len(result.records), deleted=len(result.deleted), valid=valid, invalid=invalid,
        root=state.root.encode(), pds_data=None if result.data is None else result.data.encode(),
        pds_rev=result.rev,
    )


def _parts(uri: AtUri) -> tuple[str, str]:
    collection, rkey = uri.collection, uri.rkey
    if collection is None or rkey is None:  # the fetch layer only returns record URIs
        raise ConfigError(f"{uri} does not name a record", uri=str(uri))
    return collection, rkey


def _latest_rev(client: Client, pds_url: str, did: str) -> str | None:
    try:
        answer = client.query(pds_url, "com.atproto.sync.getLatestCommit", {"did": did})
    except TransportError:
        return None
    rev = answer.get("rev") if isinstance(answer, Mapping) else None
    return rev if isinstance(rev, str) else None


def _fetch_since(  # noqa: PLR0917  # private
    repo: Repository,
    actor: str,
    base: ActorState,
    client: Client,
    resolver: Resolver,
    tracked: CollectionFilter | None,
    head: Cid,
) -> FetchResult | None:
    """The incremental fetch, or ``None`` when only a full fetch can tell (see module doc)."""
    snapshot = repo._snapshot(head)  # same package: the head's block reader
    store = OverlayBlocks(snapshot.reader)
    try:
        return fetch_actor(
            actor, collections=tracked, mode="car", since=base.pds_rev, since_data=base.root,
            client=client, resolver=resolver, blockstore=store,
        )
    except (LairsError, KeyError):
        return None


def _validity(records: Iterable[FetchedRecord]) -> tuple[int, int]:
    from lairs_etl.records import validate_record  # heavy (pydantic models): on use

    valid = invalid = 0
    for record in records:
        value, nsid = record.value, record.uri.collection
        ok = isinstance(value, dict) and validate_record(value, nsid=nsid, from_dag_cbor=True).valid
        valid += ok
        invalid += not ok
    return valid, invalid


def _validity_delta(
    repo: Repository, head: Cid, base: ActorState, result: FetchResult
) -> tuple[int | None, int | None]:
    """New counts from the old ones: minus the old versions of touched records, plus the new."""
    if base.valid_count is None or base.invalid_count is None:
        return None, None
    valid, invalid = base.valid_count, base.invalid_count
    touched = [r.uri for r in result.records] + list(result.deleted)
    old = [_stored(repo, head, uri) for uri in touched]
    old_valid, old_invalid = _validity(r for r in old if r is not None)
    new_valid, new_invalid = _validity(result.records)
    return valid - old_valid + new_valid, invalid - old_invalid + new_invalid


def _stored(repo: Repository, head: Cid, uri: AtUri) -> FetchedRecord | None:
    try:
        stored = repo.read_record(head, uri)
    except NotFoundError:
        return None
    return FetchedRecord(uri=uri, cid=stored.cid, value=stored.value(), block=stored.block)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
