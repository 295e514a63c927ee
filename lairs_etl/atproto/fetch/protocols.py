"""The shapes the fetch modes need from the XRPC client and the identity resolver.

Structural, so tests can pass the real client over an ``httpx.MockTransport`` and any
resolver that returns an identity with a DID, a PDS URL and a signing key.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from lairs_etl.atproto.xrpc import JsonValue, Params

__all__ = ["Client", "IdentityLike", "Params", "Resolver"]


class Client(Protocol):
    """What :class:`lairs_etl.atproto.xrpc.XrpcClient` offers the fetch modes."""

    def query(self, service_url: str, nsid: str, params: Params | None = None) -> JsonValue:
        """A JSON query (``GET /xrpc/<nsid>``)."""
        ...

    def download(self, service_url: str, nsid: str, params: Params | None, sink: BinaryIO) -> int:
        """Stream a binary answer into ``sink``; returns the bytes written."""
        ...


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
