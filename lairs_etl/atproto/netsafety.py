"""Refuse connections that a hostile DID document or handle could aim at our own network.

Endpoints come from the network (a PDS URL in a DID document, a ``did:web`` host, a
handle's well-known URL), so a fetcher running inside a cloud VPC could be steered at
internal services or the instance metadata endpoint (SSRF). Addresses fall in three
classes, each allowed by its own switch (:class:`HostPolicy`):

* **public** (globally routable unicast): always allowed;
* **private** (loopback, RFC 1918, unique-local, carrier-grade NAT, unspecified):
  allowed by ``allow_private_hosts``, which a local PDS needs;
* **metadata** (link-local ``169.254.0.0/16`` and ``fe80::/10``, and the cloud
  metadata endpoints ``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``,
  ``192.0.0.192``, and names such as ``metadata.google.internal``): allowed only by
  ``allow_metadata_hosts``, never by ``allow_private_hosts``. Credentials live there.

Two checks apply the policy:

* :func:`check_url`, a static check before any request: the scheme must be http(s),
  the URL carries no credentials, and a host that is an IP literal or a name reserved
  for local use (``localhost``, ``*.local``, ``*.internal``, single-label names) must be
  allowed.
* :class:`GuardedTransport`, the connection-time check: every address a host name
  resolves to is vetted *when the socket is opened*, and the socket is opened to the
  vetted address, so DNS rebinding (a name that answered public first, private later)
  cannot slip through. TLS still verifies the certificate against the host name.

The transport also keeps each read and write within the deadline of the request in
progress (:func:`request_deadline`), so a body trickling in a byte at a time ends at
the request's deadline, not after it.

One rule covers every outgoing connection, the PLC directory URL included. An injected
transport (tests, ``httpx.MockTransport``) gets the static check only.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpcore
import httpx

from lairs_etl.errors import UnsafeEndpointError

__all__ = [
    "AddressClass",
    "GuardedTransport",
    "HostPolicy",
    "Resolve",
    "address_class",
    "check_url",
    "is_public_address",
    "request_deadline",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressClass = Literal["public", "private", "metadata"]
Resolve = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; the guard's name resolution, injectable."""

_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}
)
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64, local-use prefix
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated, still routed by some stacks)
)
"""IPv6 ranges whose last 32 bits are an IPv4 address a connection may end up at."""
_DEADLINE: contextvars.ContextVar[tuple[float, Callable[[], float]] | None] = contextvars.ContextVar(
    "lairs_etl_deadline", default=None
)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Which non-public address classes may be connected to (see the module docstring)."""

    allow_private_hosts: bool = False
    allow_metadata_hosts: bool = False

    def allows(self, kind: AddressClass) -> bool:
        """Whether an address (or name) of class ``kind`` may be connected to.

        The two switches are independent: each allows its own class only.
        """
        if kind == "public":
            return True
        return self.allow_metadata_hosts if kind == "metadata" else self.allow_private_hosts


_PUBLIC_ONLY = HostPolicy()


def _embedded(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a mapped, 6to4 or NAT64 IPv6 address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    embedded = address.ipv4_mapped or address.sixtofour
    if embedded is None and int(address) > 1 and any(address in net for net in _EMBEDDING):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # not ``::`` or ``::1``
    return embedded


def address_class(address: IpAddress) -> AddressClass:
    """``public``, ``private`` or ``metadata``; an embedded IPv4 address is judged by itself."""
    embedded = _embedded(address)
    if embedded is not None:
        return address_class(embedded)
    if address in _METADATA_ADDRESSES or any(address in net for net in _LINK_LOCAL):
        return "metadata"
    if address.is_global and not (address.is_multicast or address.is_reserved):
        return "public"
    return "private"


def is_public_address(address: IpAddress) -> bool:
    """True when ``address`` is globally routable unicast (allowed without any switch)."""
    return address_class(address) == "public"


def _refusal(url: str, why: str, kind: AddressClass) -> UnsafeEndpointError:
    switch = "allow_metadata_hosts" if kind == "metadata" else "allow_private_hosts"
    return UnsafeEndpointError(f"refusing {why}; set {switch} to allow it (local development only)", url=url)


def _describe(address: IpAddress, kind: AddressClass) -> str:
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    return f"link-local address {address}" if kind == "metadata" else f"non-public address {address}"


def check_url(url: str, *, policy: HostPolicy = _PUBLIC_ONLY) -> httpx.URL:
    """Parse ``url`` and refuse it if we must never connect there.

    Args:
        url: an absolute http(s) URL.
        policy: which non-public hosts are allowed (default: none); the scheme and
            credentials checks apply whatever it says.

    Returns:
        The parsed URL.

    Raises:
        UnsafeEndpointError: bad scheme, embedded credentials, or a host not allowed.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeEndpointError(f"not a valid URL: {url!r:.200}", url=str(url)) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeEndpointError(f"only absolute http(s) URLs are fetched, not {url!r:.200}", url=url)
    if parsed.userinfo:
        raise UnsafeEndpointError("URLs with embedded credentials are refused", url=url)
    host = parsed.host.rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        kind = _name_class(host)
        if not policy.allows(kind):
            what = "a cloud metadata host name" if kind == "metadata" else "local host name"
            raise _refusal(url, f"{what} {host!r}", kind) from None
        return parsed
    kind = address_class(address)
    if not policy.allows(kind):
        raise _refusal(url, _describe(address, kind), kind)
    return parsed


def _name_class(host: str) -> AddressClass:
    if host in _METADATA_NAMES:
        return "metadata"
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        return "private"
    return "public"


@contextmanager
def request_deadline(deadline: float | None, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Bound every read and write of the guarded transport, in this thread, by ``deadline``.

    ``deadline`` is in ``clock``'s seconds (monotonic); ``None`` leaves the transport's
    own timeouts alone. The XRPC client sets it around each request.
    """
    token = _DEADLINE.set(None if deadline is None else (deadline, clock))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    current = _DEADLINE.get()
    if current is None:
        return timeout
    deadline, clock = current
    remaining = deadline - clock()
    if remaining <= 0:
        raise error("the request's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolve, vet every address, then connect to a vetted address (never re-resolve)."""

    def __init__(self, policy: HostPolicy, resolve: Resolve) -> None:
        self._inner = httpcore.SyncBackend()
        self._policy = policy
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            resolved = self._resolve(host, port)
        except OSError as exc:  # gaierror: treat like any failed connect (retryable)
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in resolved))
        for address in addresses:
            kind = address_class(address)
            if not self._policy.allows(kind):
                raise _refusal(
                    f"//{host}:{port}", f"{host!r}, which resolves to {_describe(address, kind)}", kind
                )
        error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
            else:
                return _DeadlineStream(stream)
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
    """An ``httpx.HTTPTransport`` whose every TCP connection goes to an address ``policy`` allows.

    Proxies are not supported (the proxy would do the resolving); environment proxy
    settings are ignored because the XRPC client passes its transport explicitly.
    ``resolve`` replaces the system resolver (tests use it to aim a name at an address
    without any DNS).
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        policy: HostPolicy | None = None,
        resolve: Resolve | None = None,
        http2: bool = False,
    ) -> None:
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
            network_backend=_GuardedBackend(policy or HostPolicy(), resolve or _system_resolve),
        )
        previous.close()
