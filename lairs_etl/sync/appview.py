"""An appview as an untrusted accelerator: it says *where* a corpus's records are, never what.

Without an index of the network, a corpus's closure cannot see records that point at it
from accounts nothing in it points to (an annotation layer by a fourth account on an
expression of the corpus). A Layers appview indexes those: its list queries
(``pub.layers.corpus.listMemberships``, ``…annotation.listAnnotationLayers``,
``…segmentation.listSegmentations``, ``…alignment.listAlignments``) name them.

What is taken from an answer is the *actors* of the URIs it lists, nothing else: the
records themselves are then fetched from each owner's PDS and verified like any other,
and a record joins the closure only if its verified content references the corpus. So
a lying appview (URIs that do not exist, other content, other actors) can add work —
bounded by :attr:`AppviewLimits` — but never an unverified or altered record.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import InvalidIdentifier, LairsError, isolated

__all__ = ["BY_CORPUS", "BY_EXPRESSION", "AppviewHints", "AppviewLimits", "appview_hints"]

#: Queries listing the records that name a corpus: (NSID, parameter).
BY_CORPUS: tuple[tuple[str, str], ...] = (("pub.layers.corpus.listMemberships", "corpusRef"),)
#: Queries listing the records that name an expression: (NSID, parameter).
BY_EXPRESSION: tuple[tuple[str, str], ...] = (
    ("pub.layers.annotation.listAnnotationLayers", "expression"),
    ("pub.layers.segmentation.listSegmentations", "expression"),
    ("pub.layers.alignment.listAlignments", "expression"),
)
_PAGE = 100


@dataclass(frozen=True, slots=True)
class AppviewLimits:
    """Bounds on what one ``sync_corpora`` run asks an appview: pages per query, and calls in all."""

    pages_per_query: int = 20
    max_calls: int = 5000


@dataclass(slots=True)
class AppviewHints:
    """What the appview listed: actors (DIDs) to fetch, and what went wrong asking it."""

    actors: dict[str, str] = field(default_factory=dict)
    """DID → the query that named it first."""
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    ignored: int = 0
    """Listed items that were not a record URI with a DID (skipped)."""


def appview_hints(
    client: Client,
    appview_url: str,
    *,
    corpora: Iterable[str],
    expressions: Iterable[str],
    limits: AppviewLimits | None = None,
    hints: AppviewHints | None = None,
) -> AppviewHints:
    """Ask ``appview_url`` for the records naming ``corpora`` and ``expressions``; their actors.

    Never raises for what the appview does: a failing or malformed answer is an entry
    in ``errors`` and the closure goes on without it.
    """
    limits = limits or AppviewLimits()
    out = hints if hints is not None else AppviewHints()
    asks = [(nsid, param, uri) for uri in corpora for nsid, param in BY_CORPUS]
    asks += [(nsid, param, uri) for uri in expressions for nsid, param in BY_EXPRESSION]
    for nsid, param, uri in asks:
        if out.calls >= limits.max_calls:
            out.errors.append(f"appview: stopped after {out.calls} calls (max_calls)")
            break
        listed = isolated(functools.partial(_listed, client, appview_url, nsid, param, uri, limits, out))
        if isinstance(listed, LairsError):
            out.errors.append(f"appview {nsid}({param}={uri}): {listed.type_name}: {listed}")
            continue
        for item in listed:
            did = _did_of(item)
            if did is None:
                out.ignored += 1
            else:
                out.actors.setdefault(did, nsid)
    return out


def _listed(  # noqa: PLR0917  # private: one query's arguments, passed through
    client: Client, url: str, nsid: str, param: str, value: str, limits: AppviewLimits, out: AppviewHints
) -> list[object]:
    return list(_pages(client, url, nsid, param, value, limits, out))


def _pages(  # noqa: PLR0917  # private: one query's arguments, passed through
    client: Client, url: str, nsid: str, param: str, value: str, limits: AppviewLimits, out: AppviewHints
) -> Iterator[object]:
    cursor: str | None = None
    for _ in range(limits.pages_per_query):
        if out.calls >= limits.max_calls:
            return
        params: dict[str, str | int] = {param: value, "limit": _PAGE}
        if cursor:
            params["cursor"] = cursor
        out.calls += 1
        answer = client.query(url, nsid, params)
        records = answer.get("records") if isinstance(answer, dict) else None
        if not isinstance(records, list):
            out.errors.append(f"appview {nsid}: an answer without a records list")
            return
        yield from records
        next_cursor = answer.get("cursor") if isinstance(answer, dict) else None
        if not isinstance(next_cursor, str) or not next_cursor or not records or next_cursor == cursor:
            return
        cursor = next_cursor


def _did_of(item: object) -> str | None:
    """The DID of a listed record's URI; None for anything else (the content is never read)."""
    uri = item.get("uri") if isinstance(item, dict) else None
    if not isinstance(uri, str):
        return None
    try:
        parsed = AtUri(uri)
        return str(parsed.did) if parsed.rkey is not None else None
    except InvalidIdentifier:
        return None
