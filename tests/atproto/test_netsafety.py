"""Which URLs and addresses we refuse to connect to, statically and at connect time."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lairs_etl.atproto.netsafety import (
    GuardedTransport,
    HostPolicy,
    address_class,
    check_url,
    is_public_address,
)
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import IdentityError, UnsafeEndpointError


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("fd12:3456::1", False),  # ULA
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("169.254.169.254", False),  # metadata, link-local
        ("fe80::1", False),
        ("100.64.0.1", False),  # CGNAT
        ("100.100.100.200", False),  # Alibaba metadata, in CGNAT
        ("224.0.0.1", False),  # multicast
        ("ff02::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("255.255.255.255", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:c0a8:0101::1", False),  # 6to4 of 192.168.1.1
    ],
)
def test_public_address_table(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "ftp://pds.example.com",
        "file:///etc/passwd",
        "gopher://x.example.com",
        "//pds.example.com",
        "https://user:secret@pds.example.com",
        "http://localhost:2583",
        "http://LOCALHOST.",
        "http://pds.localhost",
        "http://printer.local",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://intranet",
        "http://127.0.0.1",
        "http://[::1]:2583",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]",
        "http://192.168.0.10",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(UnsafeEndpointError) as info:
        check_url(url)
    assert isinstance(info.value, IdentityError)
    assert info.value.url == url


@pytest.mark.parametrize("url", ["https://bsky.social", "https://pds.example.com:8443/", "http://8.8.8.8/x"])
def test_check_url_accepts_public(url: str) -> None:
    assert check_url(url) == httpx.URL(url)


@pytest.mark.parametrize("url", ["http://localhost:2583", "http://10.0.0.1"])
def test_allow_private_hosts_allows_private_but_never_other_schemes(url: str) -> None:
    assert check_url(url, policy=HostPolicy(allow_private_hosts=True)).host
    with pytest.raises(UnsafeEndpointError):
        check_url("file:///etc/passwd", policy=HostPolicy(allow_private_hosts=True))


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_plain_transport_reaches_loopback(loopback_port: int) -> None:
    # control for the next test: the server is really there
    with httpx.Client(transport=httpx.HTTPTransport()) as client:
        assert client.get(f"http://localhost:{loopback_port}/").text == "hello"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_guarded_transport_refuses_at_connection_time(loopback_port: int, host: str) -> None:
    # A name that passed the static check but resolves to loopback (DNS rebinding)
    # is stopped when the socket would be opened.
    transport = GuardedTransport(limits=httpx.Limits())
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeEndpointError):
        client.get(f"http://{host}:{loopback_port}/")


def test_guarded_transport_connects_to_the_vetted_address(loopback_port: int) -> None:
    # With private hosts allowed, the guard must still open a working connection (to the
    # address it vetted), so the refusal above is the guard's doing, not a broken transport.
    transport = GuardedTransport(limits=httpx.Limits(), policy=HostPolicy(allow_private_hosts=True))
    with httpx.Client(transport=transport) as client:
        assert client.get(f"http://localhost:{loopback_port}/").text == "hello"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("127.0.0.1", "private"),
        ("10.0.0.1", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "private"),
        ("0.0.0.0", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.2", "metadata"),
        ("fe80::1", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::a9fe:a9fe", "metadata"),  # local-use NAT64
        ("::ffff:0:a9fe:a9fe", "metadata"),  # IPv4-translated
        ("::a9fe:a9fe", "metadata"),  # IPv4-compatible
        ("::a00:1", "private"),  # IPv4-compatible 10.0.0.1
        ("::1", "private"),
        ("::", "private"),
        ("64:ff9b::808:808", "public"),  # NAT64 of 8.8.8.8
    ],
)
def test_address_classes(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]:80/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://instance-data/latest/",
    ],
)
def test_allow_private_hosts_never_allows_metadata_endpoints(url: str) -> None:
    with pytest.raises(UnsafeEndpointError) as info:
        check_url(url, policy=HostPolicy(allow_private_hosts=True))
    assert "allow_metadata_hosts" in info.value.message  # the refusal names the switch that would allow it
    assert check_url(url, policy=HostPolicy(allow_metadata_hosts=True)).host


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every socket connection attempted, refused: proves a refusal came before any packet."""
    attempts: list[object] = []

    def refuse(address: object, *args: object, **kwargs: object) -> None:
        attempts.append(address)
        raise OSError("the test forbids connections")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "fd00:ec2::254"])
def test_a_name_resolving_to_metadata_is_refused_before_connecting(
    address: str, no_connections: list[object]
) -> None:
    # A public-looking name (so the static check passes) that resolves to a metadata
    # address; private hosts allowed, as for a local PDS. Resolution is injected: no DNS.
    transport = GuardedTransport(
        limits=httpx.Limits(),
        policy=HostPolicy(allow_private_hosts=True),
        resolve=lambda host, port: [address],
    )
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeEndpointError) as info:
        client.get("http://pds.example.com/xrpc/_health")
    assert "allow_metadata_hosts" in info.value.message
    assert no_connections == []


def test_the_client_refuses_a_metadata_pds_before_connecting(no_connections: list[object]) -> None:
    with XrpcClient(allow_private_hosts=True) as client, pytest.raises(UnsafeEndpointError):
        client.query("http://169.254.169.254", "com.atproto.sync.getRepo", {"did": "did:plc:x"})
    assert no_connections == []
