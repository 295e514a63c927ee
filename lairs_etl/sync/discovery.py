"""Finding actors worth tracking: seeds, PDS hosts and a relay; the discovery sensor's logic.

* Seeds (handles or DIDs) are resolved and kept as given.
* A PDS host is listed with ``listRepos``; each active repository not yet known is
  described (``describeRepo``) and kept when it holds a tracked collection. A repository
  that holds none is remembered with its rev so it is described again only once it
  changes.
* A relay's ``listReposByCollection`` names actors per tracked collection directly.
* A corpus (its AT-URI) names its owner, and, through the records the repository
  already holds, every actor its reference closure reaches
  (:func:`~lairs_etl.sync.corpus.corpus_closure`): each pass adds the actors the last
  refresh made reachable, so a corpus spreads over its accounts a hop per refresh.

Inactive repositories (deactivated, taken down, deleted) are reported in
:attr:`Discovery.inactive`, never silently dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.probes import describe_repo, list_repos, list_repos_by_collection
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import LairsError, isolated
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.appview import appview_hints
from lairs_etl.sync.corpus import ClosureLimits, CorpusClosure, corpus_closure, parse_corpus_uri

__all__ = ["Discovery", "discover"]


@dataclass(slots=True)
class Discovery:
    """What one discovery pass found.

    ``found`` maps a new DID to where it was found; ``inactive`` a DID to its status;
    ``skipped`` DIDs without tracked collections to the rev they were checked at;
    ``corpora`` each corpus's closure as the repository holds it; ``errors`` describes
    sources that failed (the others still count).
    """

    found: dict[str, str] = field(default_factory=dict)
    corpora: dict[str, CorpusClosure] = field(default_factory=dict)
    inactive: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def discover(
    *,
    client: XrpcClient,
    resolver: IdentityResolver,
    collections: Collection[str],
    known: Collection[str] = (),
    seeds: Iterable[str] = (),
    pds_hosts: Iterable[str] = (),
    relay_url: str | None = None,
    skipped: Mapping[str, str] | None = None,
    max_describe: int = 1000,
    corpora: Iterable[str] = (),
    repository: Repository | None = None,
    closure: ClosureLimits | None = None,
    appview_url: str | None = None,
) -> Discovery:
    """One pass over every configured source; ``known`` DIDs are not re-added.

    ``corpora`` are followed through ``repository`` (without one, only their owners are
    found), within the ``closure`` limits; with ``appview_url`` the actors it lists as
    holding records that name a corpus or its expressions are added too (fetched and
    verified at their PDS like any other, they join a closure only by what they hold).
    """
    out = Discovery(skipped=dict(skipped or {}))
    known_set = set(known)
    for uri in corpora:
        corpus = _Corpus(uri, repository, closure, appview_url)
        failed = isolated(functools.partial(_from_corpus, client, resolver, corpus, known_set, out))
        if isinstance(failed, LairsError):
            out.errors.append(f"corpus {uri}: {failed.type_name}: {failed}")
    for seed in seeds:
        resolved = isolated(functools.partial(resolver.resolve, seed), actor=seed)
        if isinstance(resolved, LairsError):
            out.errors.append(f"seed {seed}: {resolved.type_name}: {resolved}")
            continue
        did = str(resolved.did)
        if did not in known_set:
            out.found.setdefault(did, f"seed {seed}")
    budget = [max_describe]
    for host in pds_hosts:
        failed = isolated(functools.partial(_from_host, client, host, collections, known_set, out, budget))
        if isinstance(failed, LairsError):
            out.errors.append(f"listRepos {host}: {failed.type_name}: {failed}")
    if relay_url:
        for collection in collections:
            failed = isolated(functools.partial(_from_relay, client, relay_url, collection, known_set, out))
            if isinstance(failed, LairsError):
                where = f"listReposByCollection {relay_url} {collection}"
                out.errors.append(f"{where}: {failed.type_name}: {failed}")
    return out


@dataclass(frozen=True, slots=True)
class _Corpus:
    uri: str
    repository: Repository | None
    limits: ClosureLimits | None
    appview_url: str | None


def _from_corpus(
    client: XrpcClient, resolver: IdentityResolver, asked: _Corpus, known: set[str], out: Discovery
) -> None:
    corpus = str(parse_corpus_uri(asked.uri, resolver))
    actors: list[str] = [str(AtUri(corpus).did)]
    if asked.repository is not None:
        closure = corpus_closure(asked.repository, corpus, limits=asked.limits)
        if asked.appview_url is not None:
            hints = appview_hints(
                client, asked.appview_url, corpora=[corpus], expressions=closure.expressions
            )
            out.errors.extend(hints.errors)
            cap = (asked.limits or ClosureLimits()).max_actors
            closure = corpus_closure(
                asked.repository, corpus, limits=asked.limits, hinted=list(hints.actors)[:cap]
            )
            actors.extend(list(hints.actors)[:cap])
        out.corpora[corpus] = closure
        actors[:0] = closure.actors
    for did in dict.fromkeys(actors):
        if did not in known:
            out.found.setdefault(did, f"corpus {corpus}")


def _from_relay(client: XrpcClient, relay: str, collection: str, known: set[str], out: Discovery) -> None:
    """Every actor the relay lists for ``collection`` (those found before a failure still count)."""
    for did in list_repos_by_collection(client, relay, collection):
        if did not in known:
            out.found.setdefault(str(did), f"relay {relay} {collection}")


def _from_host(  # noqa: PLR0917  # private: discover's state, passed through
    client: XrpcClient,
    host: str,
    collections: Collection[str],
    known: set[str],
    out: Discovery,
    budget: list[int],
) -> None:
    tracked = set(collections)
    for info in list_repos(client, host):
        did = str(info.did)
        if not info.active:
            out.inactive[did] = info.status or "inactive"
            continue
        if did in known or did in out.found or out.skipped.get(did) == str(info.rev) or budget[0] <= 0:
            continue
        budget[0] -= 1
        description = isolated(functools.partial(describe_repo, client, host, did), actor=did)
        if isinstance(description, LairsError):
            out.errors.append(f"describeRepo {did} on {host}: {description.type_name}: {description}")
            continue
        if tracked & set(description.collections):
            out.found[did] = f"pds {host}"
            out.skipped.pop(did, None)
        else:
            out.skipped[did] = str(info.rev)
