"""Handle ↔ DID ↔ DID document: who an actor is, where their PDS is, which key signs.

Resolution follows the atproto identity specs: a handle resolves to a DID by DNS TXT
``_atproto.<handle>``, then ``https://<handle>/.well-known/atproto-did``, then (when
configured) a service's ``com.atproto.identity.resolveHandle``; a DID resolves to its
document through the PLC directory (``did:plc``) or ``/.well-known/did.json``
(``did:web``). The handle is trusted only when both directions agree; otherwise the
identity keeps its DID and carries ``handle=None`` ("handle.invalid").

Results are cached for ``ttl_seconds`` (handles and documents separately); the cache is
shared by threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from lairs_etl.atproto.didoc import DidDocument, VerificationMethod, parse_did_document
from lairs_etl.atproto.services import DEFAULT_PLC_URL
from lairs_etl.atproto.syntax import Did, Handle, is_did
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import (
    ConfigError,
    DidDocumentError,
    IdentityError,
    ResponseTooLargeError,
    TransportError,
    UnsafeEndpointError,
)

__all__ = ["DEFAULT_PLC_URL", "Identity", "IdentityResolver", "TxtLookup", "dns_txt_lookup"]

_log = logging.getLogger(__name__)
_K = TypeVar("_K")
_V = TypeVar("_V")

TxtLookup = Callable[[str], Sequence[str]]
"""``name -> TXT strings``; an empty result means "no record" (never raises for that)."""

# Handles on these TLDs are refused by the spec; ``.test`` is allowed but can never exist
# in public DNS, so only the configured service can answer for it.
_DISALLOWED_TLDS = frozenset({"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"})
_SERVICE_ONLY_TLDS = frozenset({"test"})
_PLC_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")  # base32, 24 characters
_DID_BODY_LIMIT = 256 * 1024
_HANDLE_BODY_LIMIT = 2048


@dataclass(frozen=True)
class Identity:
    """A resolved actor.

    ``handle`` is None when the handle did not verify both ways (``handle.invalid``);
    ``claimed_handle`` is what was asked for or what the document claimed.
    """

    did: Did
    handle: Handle | None
    claimed_handle: Handle | None
    pds_url: str
    signing_key: VerificationMethod
    document: DidDocument

    @property
    def handle_valid(self) -> bool:
        """Whether the handle and the DID document point at each other."""
        return self.handle is not None


def dns_txt_lookup(name: str, *, lifetime: float = 5.0) -> list[str]:
    """TXT strings of ``name`` via dnspython; no record, no domain or a DNS failure → ``[]``."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=lifetime)
    except dns.exception.DNSException as exc:  # NXDOMAIN, NoAnswer, Timeout, ...
        _log.debug("no TXT for %s: %s", name, type(exc).__name__)
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


class _TtlCache(Generic[_K, _V]):
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl, self._clock = ttl, clock
        self._items: dict[_K, tuple[float, _V]] = {}
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self._clock():
                self._items.pop(key, None)
                return None
            return item[1]

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._items[key] = (self._clock() + self._ttl, value)

    def pop(self, key: _K) -> None:
        with self._lock:
            self._items.pop(key, None)


class IdentityResolver:
    """Resolve handles and DIDs through one :class:`XrpcClient`.

    The client's ``allow_private_hosts`` and ``allow_metadata_hosts`` apply to PDS
    endpoints, ``did:web`` hosts and the PLC URL alike.

    Args:
        client: the XRPC client used for every request.
        plc_url: PLC directory base URL.
        handle_service: a service answering ``com.atproto.identity.resolveHandle``, tried
            after DNS and HTTPS (e.g. a PDS hosting handles under ``.test``).
        txt_lookup: DNS TXT lookup, injectable so tests never touch the network.
        ttl_seconds: how long resolved handles and documents are reused.
        clock: monotonic seconds for the cache.
    """

    def __init__(
        self,
        client: XrpcClient,
        *,
        plc_url: str = DEFAULT_PLC_URL,
        handle_service: str | None = None,
        txt_lookup: TxtLookup = dns_txt_lookup,
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        try:
            for url in (plc_url, handle_service):
                if url is not None:
                    client.check_url(url)
        except UnsafeEndpointError as exc:
            raise ConfigError(f"{exc.message} (url={exc.url})") from exc
        self.plc_url = plc_url.rstrip("/")
        self._service = handle_service
        self._txt = txt_lookup
        self._dids: _TtlCache[Did, DidDocument] = _TtlCache(ttl_seconds, clock)
        self._handles: _TtlCache[Handle, Did] = _TtlCache(ttl_seconds, clock)

    def resolve(self, handle_or_did: str) -> Identity:
        """Resolve a handle or a DID to a verified :class:`Identity`.

        Raises:
            InvalidIdentifier: neither a DID nor a handle.
            IdentityError: the handle or DID does not resolve (``DidDocumentError`` and
                ``UnsafeEndpointError`` for hostile documents).
            TransportError: a service failed in a way worth retrying later.
        """
        if handle_or_did.startswith("did:"):
            did = Did(handle_or_did)
            document = self.resolve_did(did)
            claimed = document.handle
            verified = claimed if claimed is not None and self._points_to(claimed, did) else None
        else:
            claimed = Handle(handle_or_did)
            did = self.resolve_handle(claimed)
            document = self.resolve_did(did)
            verified = claimed if document.handle == claimed else None
        if verified is None and claimed is not None:
            _log.warning("handle %s of %s does not verify both ways: treated as handle.invalid", claimed, did)
        return Identity(did, verified, claimed, document.pds_endpoint, document.signing_key, document)

    def resolve_handle(self, handle: str) -> Did:
        """The DID a handle claims (one direction only; :meth:`resolve` checks both).

        Raises:
            IdentityError: no method resolved it, or DNS gave conflicting DIDs.
        """
        name = Handle(handle)
        cached = self._handles.get(name)
        if cached is not None:
            return cached
        tld = name.rsplit(".", 1)[-1]
        if tld in _DISALLOWED_TLDS:
            raise IdentityError(f"handles under .{tld} are not allowed", actor=name)
        did = None
        if tld not in _SERVICE_ONLY_TLDS:
            did = self._from_dns(name) or self._from_well_known(name)
        if did is None and self._service is not None:
            did = self._from_service(name, self._service)
        if did is None:
            raise IdentityError("handle did not resolve (DNS, HTTPS, service)", actor=name)
        self._handles.put(name, did)
        return did

    def resolve_did(self, did: str) -> DidDocument:
        """Fetch and check the DID document of a ``did:plc`` or ``did:web``.

        Raises:
            IdentityError: unsupported method, malformed DID, or not found / tombstoned.
            DidDocumentError: the document is not trustworthy (see ``parse_did_document``).
            UnsafeEndpointError: its PDS endpoint is not allowed.
            TransportError: the directory or host failed in a way worth retrying later.
        """
        parsed = Did(did)
        cached = self._dids.get(parsed)
        if cached is not None:
            return cached
        url = self._document_url(parsed)
        try:
            body = self._client.get_bytes(url, max_bytes=_DID_BODY_LIMIT)
        except ResponseTooLargeError as exc:
            raise DidDocumentError(f"DID document too large: {exc.message}", actor=parsed) from exc
        except TransportError as exc:
            if exc.status in (404, 410):
                raise IdentityError(f"DID not found (HTTP {exc.status} from {url})", actor=parsed) from exc
            raise
        document = parse_did_document(body, parsed, policy=self._client.policy)
        self._dids.put(parsed, document)
        return document

    def forget(self, did: str) -> None:
        """Drop what is cached of ``did``'s document (its key or PDS changed: ``#identity``).

        Handles pointing at it expire on their own: a handle is checked against the
        document each time it is resolved.
        """
        self._dids.pop(Did(did))

    # -- internals ----------------------------------------------------------------

    def _document_url(self, did: Did) -> str:
        if did.method == "plc":
            if len(did) != len("did:plc:") + 24 or not set(did[8:]) <= _PLC_ALPHABET:
                raise IdentityError("malformed did:plc", actor=did)
            return f"{self.plc_url}/{did}"
        if did.method == "web":
            return _did_web_url(did, self._client.allow_private_hosts)
        raise IdentityError(f"unsupported DID method {did.method!r}", actor=did)

    def _points_to(self, handle: Handle, did: Did) -> bool:
        try:
            return self.resolve_handle(handle) == did
        except (IdentityError, TransportError) as exc:
            _log.info("handle %s does not resolve: %s", handle, exc)
            return False

    def _from_dns(self, handle: Handle) -> Did | None:
        found = {value[4:].strip() for value in self._txt(f"_atproto.{handle}") if value.startswith("did=")}
        if len(found) > 1:
            raise IdentityError(f"conflicting DNS TXT records name {len(found)} DIDs", actor=handle)
        value = found.pop() if found else None
        return Did(value) if value is not None and is_did(value) else None

    def _from_well_known(self, handle: Handle) -> Did | None:
        try:
            body = self._client.get_bytes(
                f"https://{handle}/.well-known/atproto-did", max_bytes=_HANDLE_BODY_LIMIT, max_retries=1
            )
        except (TransportError, UnsafeEndpointError) as exc:
            _log.debug("well-known handle lookup for %s failed: %s", handle, exc)
            return None
        text = body.decode("utf-8", "replace").strip()
        return Did(text) if is_did(text) else None

    def _from_service(self, handle: Handle, service: str) -> Did | None:
        try:
            answer = self._client.query(service, "com.atproto.identity.resolveHandle", {"handle": handle})
        except TransportError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None  # the service does not know the handle
            raise
        value = answer.get("did") if isinstance(answer, dict) else None
        return Did(value) if isinstance(value, str) and is_did(value) else None


def _did_web_url(did: Did, allow_private_hosts: bool) -> str:
    """``did:web:host`` (``%3A``-encoded port only for localhost) → its did.json URL."""
    rest = did[len("did:web:") :]
    if ":" in rest:
        raise IdentityError("did:web with a path is not supported by atproto", actor=did)
    host = unquote(rest).lower()
    name, _, port = host.partition(":")
    local = name == "localhost"
    if port and not (local and allow_private_hosts and port.isdigit()):
        raise IdentityError("did:web may carry a port only for localhost in development", actor=did)
    scheme = "http" if local and allow_private_hosts else "https"
    return f"{scheme}://{host}/.well-known/did.json"
