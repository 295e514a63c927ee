"""Refuse connections that a hostile DID document or handle could aim at our own network.

Endpoints come from the network (a PDS URL in a DID document, a ``did:web`` host, a
handle's well-known URL), so a fetcher running inside a cloud VPC could be steered at
internal services or the instance metadata endpoint (SSRF). Two checks stop that:

* :func:`check_url`, a static check before any request: the scheme must be http(s),
  the URL carries no credentials, and a host that is an IP literal or a name reserved
  for local use (``localhost``, ``*.local``, ``*.internal``, single-label names) must not
  be private.
* :class:`GuardedTransport`, the connection-time check: every address a host name
  resolves to is vetted *when the socket is opened*, and the socket is opened to the
  vetted address, so DNS rebinding (a name that answered public first, private later)
  cannot slip through. TLS still verifies the certificate against the host name.

One rule covers every outgoing connection, the PLC directory URL included: the default
``https://plc.directory`` is public, and an operator who points lairs-etl at a private
PLC mirror or a local test PDS sets ``allow_private_hosts`` for the whole client.
An injected transport (tests, ``httpx.MockTransport``) gets the static check only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

from lairs_etl.errors import UnsafeEndpointError

__all__ = ["GuardedTransport", "check_url", "is_public_address"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named here so the refusal message can say *why*; all of them are also non-global.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IpAddress) -> bool:
    """True when ``address`` is globally routable unicast (the only kind we connect to).

    IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged by the embedded address, so
    ``::ffff:127.0.0.1`` is as local as ``127.0.0.1``.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if address in _METADATA_ADDRESSES:
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _refusal(url: str, why: str) -> UnsafeEndpointError:
    return UnsafeEndpointError(
        f"refusing {why}; set allow_private_hosts to allow it (local development only)", url=url
    )


def _describe(address: IpAddress) -> str:
    return "a cloud metadata address" if address in _METADATA_ADDRESSES else f"non-public address {address}"


def check_url(url: str, *, allow_private_hosts: bool = False) -> httpx.URL:
    """Parse ``url`` and refuse it if we must never connect there.

    Args:
        url: an absolute http(s) URL.
        allow_private_hosts: skip the private-address part (never the scheme check).

    Returns:
        The parsed URL.

    Raises:
        UnsafeEndpointError: bad scheme, embedded credentials, or a private host.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeEndpointError(f"not a valid URL: {url!r:.200}", url=str(url)) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeEndpointError(f"only absolute http(s) URLs are fetched, not {url!r:.200}", url=url)
    if parsed.userinfo:
        raise UnsafeEndpointError("URLs with embedded credentials are refused", url=url)
    if allow_private_hosts:
        return parsed
    host = parsed.host.rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
            raise _refusal(url, f"local host name {host!r}") from None
        return parsed
    if not is_public_address(address):
        raise _refusal(url, _describe(address))
    return parsed


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve, vet every address, then connect to a vetted address (never re-resolve)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # gaierror: treat like any failed connect (retryable)
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for address in addresses:
            if not is_public_address(address):
                raise _refusal(f"//{host}:{port}", f"{host!r}, which resolves to {_describe(address)}")
        error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host!r}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise UnsafeEndpointError("unix sockets are never used for remote services", url=path)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` whose every TCP connection goes to a vetted public address.

    Proxies are not supported (the proxy would do the resolving); environment proxy
    settings are ignored because the XRPC client passes its transport explicitly.
    """

    def __init__(self, *, limits: httpx.Limits, http2: bool = False) -> None:
        super().__init__(limits=limits, http2=http2, trust_env=False)
        ssl_context = httpx.create_ssl_context(trust_env=False)
        # httpx builds its httpcore pool without a network_backend hook; rebuild it with
        # the same settings plus the guard. Checked by a test, so an httpx change that
        # moves ``_pool`` fails loudly instead of silently dropping the guard.
        previous = self._pool
        if not isinstance(previous, httpcore.ConnectionPool):  # pragma: no cover - httpx internals moved
            raise TypeError("unexpected httpx transport internals; cannot install the address guard")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=_GuardedBackend(),
        )
        previous.close()
