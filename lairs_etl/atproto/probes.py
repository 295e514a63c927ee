"""Cheap questions to ask a PDS or relay before fetching anything heavy.

``list_repos`` answers "which of this PDS's actors changed?" in one paginated call
(compare each ``rev`` with the one held), ``get_latest_commit`` the same for one actor,
``describe_repo`` which collections an actor has, and ``list_repos_by_collection`` (a
relay endpoint) which actors have Layers records at all.

Answers are parsed into typed records; an answer that breaks its lexicon raises
:class:`MalformedResponseError` (the whole answer) or is skipped with a warning (one entry of a
listing, so one bad row cannot hide a whole relay's worth of actors).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.syntax import Did, Handle, Nsid, Tid, is_did, is_handle
from lairs_etl.atproto.xrpc import JsonValue, Params, XrpcClient
from lairs_etl.errors import CodecError, InvalidIdentifier, MalformedResponseError, XrpcError

__all__ = [
    "RepoDescription",
    "RepoInfo",
    "describe_repo",
    "get_latest_commit",
    "list_repos",
    "list_repos_by_collection",
    "repo_status",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoInfo:
    """One row of ``com.atproto.sync.listRepos``; ``status`` says why an inactive repo is."""

    did: Did
    head: Cid
    rev: Tid
    active: bool
    status: str | None


@dataclass(frozen=True)
class RepoDescription:
    """``com.atproto.repo.describeRepo``: the actor's collections and handle as the PDS sees it."""

    did: Did
    handle: Handle | None
    collections: tuple[Nsid, ...]
    handle_is_correct: bool


def _malformed(nsid: str, service: str, why: str) -> MalformedResponseError:
    return MalformedResponseError(f"{nsid} answer breaks its lexicon: {why}", url=f"{service}/xrpc/{nsid}")


def _object(answer: JsonValue, nsid: str, service: str) -> dict[str, JsonValue]:
    if not isinstance(answer, dict):
        raise _malformed(nsid, service, "not an object")
    return answer


def get_latest_commit(client: XrpcClient, pds: str, did: str) -> tuple[Cid, Tid]:
    """The CID and revision of the actor's current commit.

    Raises:
        XrpcError: e.g. ``RepoNotFound``, ``RepoDeactivated``, ``RepoTakendown``.
        TransportError: the answer is malformed, or the errors of ``XrpcClient.query``.
    """
    nsid = "com.atproto.sync.getLatestCommit"
    answer = _object(client.query(pds, nsid, {"did": Did(did)}), nsid, pds)
    cid, rev = answer.get("cid"), answer.get("rev")
    try:
        if isinstance(cid, str) and isinstance(rev, str):
            return parse_cid(cid), Tid(rev)
    except (CodecError, InvalidIdentifier) as exc:
        raise _malformed(nsid, pds, str(exc)) from exc
    raise _malformed(nsid, pds, "cid and rev must be strings")


def describe_repo(client: XrpcClient, pds: str, did: str) -> RepoDescription:
    """Collections and handle of one repository.

    Raises:
        XrpcError: e.g. ``RepoNotFound``.
        TransportError: the answer is malformed, or the errors of ``XrpcClient.query``.
    """
    nsid = "com.atproto.repo.describeRepo"
    answer = _object(client.query(pds, nsid, {"repo": Did(did)}), nsid, pds)
    handle, collections = answer.get("handle"), answer.get("collections")
    if answer.get("did") != did or not isinstance(collections, list):
        raise _malformed(nsid, pds, "did must match the one asked, collections must be a list")
    try:
        parsed = tuple(Nsid(c) for c in collections if isinstance(c, str))
    except InvalidIdentifier as exc:
        raise _malformed(nsid, pds, str(exc)) from exc
    return RepoDescription(
        did=Did(did),
        handle=Handle(handle) if isinstance(handle, str) and is_handle(handle) else None,
        collections=parsed,
        handle_is_correct=answer.get("handleIsCorrect") is True,
    )


def repo_status(client: Client, pds: str, did: str) -> str:
    """The hosting status of one repository as its own PDS states it.

    ``active`` for an active repository, else the status it gives (``deactivated``,
    ``deleted``, ``takendown`` …); ``deleted`` too when the PDS no longer knows it
    (``RepoNotFound``). What a relay relays about an account is unsigned: this is how a
    deletion is confirmed before records are removed.

    Raises:
        XrpcError: another refusal.
        TransportError: the answer is malformed, or the errors of ``XrpcClient.query``.
    """
    nsid = "com.atproto.sync.getRepoStatus"
    try:
        answer = _object(client.query(pds, nsid, {"did": Did(did)}), nsid, pds)
    except XrpcError as exc:
        if exc.error == "RepoNotFound":
            return "deleted"
        raise
    active, status = answer.get("active"), answer.get("status")
    if answer.get("did") != did or not isinstance(active, bool):
        raise _malformed(nsid, pds, "did must match the one asked, active must be a boolean")
    if active:
        return "active"
    return status if isinstance(status, str) and status else "inactive"


def _pages(client: XrpcClient, service: str, nsid: str, params: Params) -> Iterator[dict[str, JsonValue]]:
    """Follow ``cursor`` until the service stops giving one (or repeats one: a loop).

    At most ``client.limits.pages`` pages: a listing that never ends is cut there (with
    a warning; what was listed still counts).
    """
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(client.limits.pages):
        answer = _object(client.query(service, nsid, {**params, "cursor": cursor}), nsid, service)
        repos = answer.get("repos")
        if not isinstance(repos, list):
            raise _malformed(nsid, service, "repos must be a list")
        yield from (row for row in repos if isinstance(row, dict))
        next_cursor = answer.get("cursor")
        if not repos or not isinstance(next_cursor, str) or not next_cursor or next_cursor in seen:
            return
        seen.add(next_cursor)
        cursor = next_cursor
    _log.warning("%s on %s: stopped after pages=%d", nsid, service, client.limits.pages)


def list_repos(client: XrpcClient, pds: str, *, page_size: int = 1000) -> Iterator[RepoInfo]:
    """Every repository the PDS hosts, with its head commit and revision.

    Raises:
        TransportError: an answer is malformed, or the errors of ``XrpcClient.query``.
    """
    nsid = "com.atproto.sync.listRepos"
    for row in _pages(client, pds, nsid, {"limit": page_size}):
        try:
            head, rev, did = row.get("head"), row.get("rev"), row.get("did")
            if not (isinstance(head, str) and isinstance(rev, str) and isinstance(did, str)):
                raise InvalidIdentifier("missing did/head/rev", kind="repo", value=repr(row)[:200])
            status = row.get("status")
            yield RepoInfo(
                did=Did(did),
                head=parse_cid(head),
                rev=Tid(rev),
                active=row.get("active") is not False,
                status=status if isinstance(status, str) else None,
            )
        except (CodecError, InvalidIdentifier) as exc:
            _log.warning("skipping malformed %s row from %s: %s", nsid, pds, exc)


def list_repos_by_collection(
    client: XrpcClient, relay: str, collection: str, *, page_size: int = 2000
) -> Iterator[Did]:
    """DIDs of every actor with at least one record in ``collection`` (a relay query).

    A PDS does not serve this endpoint: it answers an :class:`XrpcError`.

    Raises:
        TransportError: an answer is malformed, or the errors of ``XrpcClient.query``.
    """
    nsid = "com.atproto.sync.listReposByCollection"
    for row in _pages(client, relay, nsid, {"collection": Nsid(collection), "limit": page_size}):
        did = row.get("did")
        if isinstance(did, str) and is_did(did):
            yield Did(did)
        else:
            _log.warning("skipping malformed %s row from %s: %r", nsid, relay, row)
