"""The ``auto`` mode's rule: pick, per actor, the cheapest mode that still verifies.

The rule, from the actor's ``repo.describeRepo`` collection list:

* **car** when every collection in the repository is tracked (a Layers-only account,
  or an empty one): the whole repository is what we want, and one ``getRepo`` is the
  fastest way to get it, fully verified;
* **car** also for an incremental fetch (``since`` with the earlier block store):
  ``getRepo?since`` sends only the blocks written after that rev, whatever their app;
* **tree** otherwise (an account with, say, 50,000 ``app.bsky.*`` records and 1,000
  ``pub.layers.*`` ones): the verified partial sync fetches the commit, the MST nodes
  whose key range can hold a tracked collection and those records, not the posts;
* **records** when the PDS does not serve the sync endpoints (the verified mode fails
  with ``MethodNotImplemented``, HTTP 404 or 501): ``listRecords`` with every CID
  recomputed; integrity but not authenticity (``authenticated=False``).

A ``describeRepo`` that fails is not fatal: the rule then picks **tree**, which is
never much worse than **car** (a few extra round trips on a Layers-only account).
"""

from __future__ import annotations

from collections.abc import Mapping

from lairs_etl.atproto.fetch.model import CollectionFilter, ResolvedMode
from lairs_etl.atproto.fetch.protocols import Client, IdentityLike
from lairs_etl.errors import LimitExceededError, TransportError, XrpcError

__all__ = ["choose_mode", "describe_collections", "sync_unsupported"]

_UNSUPPORTED_ERRORS = frozenset({"MethodNotImplemented", "MethodNotSupported"})


def describe_collections(identity: IdentityLike, *, client: Client) -> list[str] | None:
    """The collections ``describeRepo`` lists for the actor, or None if it cannot say."""
    try:
        answer = client.query(identity.pds_url, "com.atproto.repo.describeRepo", {"repo": str(identity.did)})
    except LimitExceededError:
        raise  # the actor's budget is spent: trying another mode would only spend more
    except TransportError:
        return None
    values = answer.get("collections") if isinstance(answer, Mapping) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return [str(v) for v in values]


def choose_mode(
    repo_collections: list[str] | None, collections: CollectionFilter, *, incremental: bool = False
) -> ResolvedMode:
    """Apply the module's rule to what ``describeRepo`` said (None: unknown)."""
    if incremental:
        return "car"
    if repo_collections is not None and all(c in collections for c in repo_collections):
        return "car"
    return "tree"


def sync_unsupported(exc: XrpcError) -> bool:
    """Whether an XRPC failure means the server lacks the sync endpoints altogether."""
    return exc.error in _UNSUPPORTED_ERRORS or exc.status in (404, 501)
