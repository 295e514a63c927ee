"""Which registered actors changed on their PDS since we last asked: the change sensor's logic.

Actors are grouped by PDS host and each host is asked ``listRepos`` (one call per
1,000 repositories), so a tick over thousands of actors costs a handful of requests.
An actor missing from every listing is resolved (a bounded number per tick) to learn
its host, which is listed from the next tick on, and asked ``getLatestCommit`` now; a
host whose ``listRepos`` fails falls back to ``getLatestCommit`` per known actor.

An actor counts as changed when its rev differs from the last rev requested (the
cursor's ``revs``) or, for an actor the cursor has not seen, from the ``pds_rev`` the
repository recorded at its last full refresh. At most ``max_runs`` changes are
returned per tick; the rest keep their old cursor rev and come out on the next tick.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.probes import get_latest_commit, list_repos
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import LairsError, isolated

__all__ = ["ChangeState", "ChangeTick", "Changed", "detect_changes"]


@dataclass(slots=True)
class ChangeState:
    """The sensor cursor: last requested rev per DID, learnt host per DID."""

    revs: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)

    def dumps(self) -> str:
        """Compact JSON for a Dagster cursor."""
        return json.dumps({"revs": self.revs, "hosts": self.hosts}, separators=(",", ":"))

    @classmethod
    def loads(cls, cursor: str | None) -> ChangeState:
        """Parse a cursor; an empty or foreign one starts afresh."""
        try:
            raw = json.loads(cursor) if cursor else {}
        except ValueError:
            raw = {}
        revs = raw.get("revs") if isinstance(raw, dict) else None
        hosts = raw.get("hosts") if isinstance(raw, dict) else None
        return cls(
            dict(revs) if isinstance(revs, dict) else {}, dict(hosts) if isinstance(hosts, dict) else {}
        )


@dataclass(frozen=True, slots=True)
class Changed:
    """One actor to refresh: its DID, current rev and PDS host."""

    did: str
    rev: str
    host: str


@dataclass(slots=True)
class ChangeTick:
    """A tick's outcome: changes to request, the next cursor state, and what went wrong."""

    changed: list[Changed]
    state: ChangeState
    inactive: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0


def detect_changes(
    registered: Iterable[str],
    *,
    client: XrpcClient,
    resolver: IdentityResolver,
    state: ChangeState,
    pds_hosts: Iterable[str] = (),
    baseline: Callable[[], Mapping[str, str | None]] | None = None,
    max_runs: int = 500,
    max_resolutions: int = 100,
) -> ChangeTick:
    """Compare every registered actor's current rev with the last one seen."""
    actors = set(registered)
    tick = ChangeTick([], ChangeState(dict(state.revs), dict(state.hosts)))
    current: dict[str, tuple[str, str]] = {}
    hosts = sorted(set(pds_hosts) | set(state.hosts.values()))
    for host in hosts:
        _list_host(client, host, actors, current, tick)
    missing = sorted(actors - current.keys() - tick.inactive.keys())
    for did in missing[:max_resolutions]:

        def latest_of(did: str = did) -> tuple[str, str]:
            host = tick.state.hosts.get(did) or resolver.resolve(did).pds_url
            tick.state.hosts[did] = host
            _cid, latest = get_latest_commit(client, host, did)
            tick.requests += 1
            return str(latest), host

        found = isolated(latest_of, actor=did)
        if isinstance(found, LairsError):
            tick.unresolved.append(did)
            tick.errors.append(f"{did}: {found.type_name}: {found}")
        else:
            current[did] = found
    tick.unresolved.extend(missing[max_resolutions:])
    known = baseline() if baseline is not None and any(d not in state.revs for d in current) else {}
    for did in sorted(current):
        rev, host = current[did]
        last = state.revs.get(did, known.get(did))
        if rev == last:
            tick.state.revs[did] = rev
            continue
        if len(tick.changed) < max_runs:
            tick.changed.append(Changed(did, rev, host))
            tick.state.revs[did] = rev
    return tick


def _list_host(
    client: XrpcClient, host: str, actors: set[str], current: dict[str, tuple[str, str]], tick: ChangeTick
) -> None:
    rows = isolated(lambda: list(list_repos(client, host)))
    if isinstance(rows, LairsError):
        tick.errors.append(f"listRepos {host}: {rows.type_name}: {rows}")
        for did, learnt in tick.state.hosts.items():
            if learnt == host and did in actors:
                latest = isolated(functools.partial(get_latest_commit, client, host, did), actor=did)
                if isinstance(latest, LairsError):
                    tick.errors.append(f"{did}: {latest.type_name}: {latest}")
                else:
                    tick.requests += 1
                    current[did] = (str(latest[1]), host)
        return
    tick.requests += 1 + len(rows) // 1000
    for info in rows:
        did = str(info.did)
        if did not in actors:
            continue
        if not info.active:
            tick.inactive[did] = info.status or "inactive"
            continue
        current[did] = (str(info.rev), host)
