"""The shapes the fetch modes need from the XRPC client and the identity resolver.

Structural, so tests can pass the real client over an ``httpx.MockTransport`` and any
resolver that returns an identity with a DID, a PDS URL and a signing key.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from lairs_etl.atproto.limits import Budget, FetchLimits
from lairs_etl.atproto.xrpc import JsonValue, Params

__all__ = ["BudgetedClient", "Client", "IdentityLike", "Params", "Resolver"]


class Client(Protocol):
    """What :class:`lairs_etl.atproto.xrpc.XrpcClient` offers the fetch modes."""

    @property
    def limits(self) -> FetchLimits:
        """The budgets every call and every actor's fetch keeps to."""
        ...

    def query(
        self, service_url: str, nsid: str, params: Params | None = None, *, budget: Budget | None = None
    ) -> JsonValue:
        """A JSON query (``GET /xrpc/<nsid>``), drawing on ``budget`` when given."""
        ...

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
        budget: Budget | None = None,
    ) -> int:
        """Stream a binary answer into ``sink``; returns the bytes written."""
        ...


class BudgetedClient:
    """A :class:`Client` whose every call draws on one actor's :class:`Budget`.

    :func:`~lairs_etl.atproto.fetch.fetch_actor` hands this to the fetch modes, so
    every request they make for the actor, from any thread, shares its deadline and
    byte allowance without each mode passing the budget along.
    """

    def __init__(self, client: Client, budget: Budget) -> None:
        self._client = client
        self.budget = budget

    @property
    def limits(self) -> FetchLimits:
        """The wrapped client's limits."""
        return self._client.limits

    def query(
        self, service_url: str, nsid: str, params: Params | None = None, *, budget: Budget | None = None
    ) -> JsonValue:
        """The wrapped query, within the actor's budget."""
        self.budget.check_time()
        return self._client.query(service_url, nsid, params, budget=budget or self.budget)

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
        budget: Budget | None = None,
    ) -> int:
        """The wrapped download, within the actor's budget."""
        self.budget.check_time()
        return self._client.download(
            service_url, nsid, params, sink, max_bytes=max_bytes, budget=budget or self.budget
        )


class IdentityLike(Protocol):
    """A resolved actor: the parts a verified fetch relies on."""

    @property
    def did(self) -> str:
        """The actor's DID."""
        ...

    @property
    def pds_url(self) -> str:
        """The ``#atproto_pds`` service endpoint."""
        ...

    @property
    def signing_key(self) -> object:
        """The ``#atproto`` verification method the commit signature is checked against."""
        ...


class Resolver(Protocol):
    """Turns a handle or DID into an :class:`IdentityLike` (the DID document's view)."""

    def resolve(self, actor: str) -> IdentityLike:
        """Resolve ``actor``, raising :class:`~lairs_etl.errors.IdentityError` on failure."""
        ...
