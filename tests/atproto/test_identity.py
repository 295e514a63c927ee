"""Identity resolution against mocked PLC, did:web hosts, DNS and handle services."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import (
    ConfigError,
    DidDocumentError,
    IdentityError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    UnsafeEndpointError,
)

PLC = "https://plc.example.com"
ALICE = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
BOB = "did:plc:abcdefghijklmnopqrstuvwx"
KEY = "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"


def document(
    did: str, handle: str = "alice.example.com", pds: str = "https://pds.example.com"
) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [
            {"id": f"{did}#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": KEY}
        ],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}],
    }


class Network:
    """A tiny fake internet: URL -> response, DNS name -> TXT strings; records lookups."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response] | httpx.Response] = {}
        self.txt: dict[str, list[str]] = {}
        self.hits: list[str] = []
        self.dns_hits: list[str] = []

    def serve_doc(self, did: str, **kwargs: str) -> None:
        self.routes[f"{PLC}/{did}"] = httpx.Response(200, json=document(did, **kwargs))

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        self.hits.append(url)
        route = self.routes.get(url)
        if route is None:
            return httpx.Response(404, text="not here")
        return route(request) if callable(route) else route

    def lookup(self, name: str) -> Sequence[str]:
        self.dns_hits.append(name)
        return self.txt.get(name, [])

    def resolver(self, **kwargs: object) -> IdentityResolver:
        client = XrpcClient(
            transport=httpx.MockTransport(self.handler),
            sleep=lambda s: None,
            max_retries=2,
        )
        return IdentityResolver(client, plc_url=PLC, txt_lookup=self.lookup, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def net() -> Network:
    return Network()


def test_did_plc_with_verified_handle(net: Network) -> None:
    net.serve_doc(ALICE)
    net.txt["_atproto.alice.example.com"] = [f"did={ALICE}"]
    ident = net.resolver().resolve(ALICE)
    assert (ident.did, ident.handle, ident.handle_valid) == (ALICE, "alice.example.com", True)
    assert ident.pds_url == "https://pds.example.com"
    assert (ident.signing_key.type, ident.signing_key.public_key_multibase) == ("Multikey", KEY)
    assert ident.document.raw["id"] == ALICE


def test_handle_via_dns_then_document_two_way(net: Network) -> None:
    net.serve_doc(ALICE)
    net.txt["_atproto.alice.example.com"] = ["v=spf1 -all", f"did={ALICE}"]
    ident = net.resolver().resolve("Alice.Example.COM")
    assert (ident.did, ident.handle) == (ALICE, "alice.example.com")
    assert not any("well-known/atproto-did" in h for h in net.hits)


def test_handle_via_well_known_when_dns_has_nothing(net: Network) -> None:
    net.serve_doc(ALICE)
    net.routes["https://alice.example.com/.well-known/atproto-did"] = httpx.Response(200, text=f"{ALICE}\n")
    assert net.resolver().resolve_handle("alice.example.com") == ALICE


def test_handle_via_service_as_last_resort(net: Network) -> None:
    def resolve_handle(request: httpx.Request) -> httpx.Response:
        assert request.url.params["handle"] == "alice.example.com"
        return httpx.Response(200, json={"did": ALICE})

    net.routes["https://entryway.example.com/xrpc/com.atproto.identity.resolveHandle"] = resolve_handle
    resolver = net.resolver(handle_service="https://entryway.example.com")
    assert resolver.resolve_handle("alice.example.com") == ALICE
    assert net.dns_hits == ["_atproto.alice.example.com"]


def test_test_tld_handles_go_straight_to_the_service(net: Network) -> None:
    net.routes["https://pds.example.com/xrpc/com.atproto.identity.resolveHandle"] = httpx.Response(
        200, json={"did": BOB}
    )
    resolver = net.resolver(handle_service="https://pds.example.com")
    assert resolver.resolve_handle("bob.test") == BOB
    assert net.dns_hits == []
    assert net.hits == ["https://pds.example.com/xrpc/com.atproto.identity.resolveHandle"]


def test_unknown_handle_fails_with_identity_error(net: Network) -> None:
    net.routes["https://pds.example.com/xrpc/com.atproto.identity.resolveHandle"] = httpx.Response(
        400, json={"error": "InvalidRequest", "message": "Unable to resolve handle"}
    )
    with pytest.raises(IdentityError) as info:
        net.resolver(handle_service="https://pds.example.com").resolve_handle("nobody.example.com")
    assert info.value.actor == "nobody.example.com"


@pytest.mark.parametrize("handle", ["alice.example", "x.onion", "printer.local", "bob.invalid"])
def test_disallowed_tlds_are_refused_without_lookups(net: Network, handle: str) -> None:
    with pytest.raises(IdentityError):
        net.resolver().resolve_handle(handle)
    assert (net.dns_hits, net.hits) == ([], [])


def test_conflicting_dns_records_are_an_error(net: Network) -> None:
    net.txt["_atproto.alice.example.com"] = [f"did={ALICE}", f"did={BOB}"]
    with pytest.raises(IdentityError):
        net.resolver().resolve_handle("alice.example.com")


def test_handle_whose_document_claims_another_handle_is_invalid(
    net: Network, caplog: pytest.LogCaptureFixture
) -> None:
    net.serve_doc(ALICE, handle="someone-else.example.com")
    net.txt["_atproto.alice.example.com"] = [f"did={ALICE}"]
    ident = net.resolver().resolve("alice.example.com")
    assert "handle.invalid" in caplog.text
    assert ident.did == ALICE
    assert (ident.handle, ident.claimed_handle, ident.handle_valid) == (None, "alice.example.com", False)


def test_did_whose_claimed_handle_points_elsewhere_keeps_did_drops_handle(net: Network) -> None:
    net.serve_doc(ALICE, handle="famous.example.com")
    net.txt["_atproto.famous.example.com"] = [f"did={BOB}"]  # the real owner
    ident = net.resolver().resolve(ALICE)
    assert (ident.did, ident.handle, ident.claimed_handle) == (ALICE, None, "famous.example.com")
    assert ident.pds_url == "https://pds.example.com"


def test_did_whose_claimed_handle_does_not_resolve_is_invalid_not_an_error(net: Network) -> None:
    net.serve_doc(ALICE, handle="gone.example.com")
    assert net.resolver().resolve(ALICE).handle is None


def test_unknown_did_is_identity_error_but_a_failing_directory_is_transport(net: Network) -> None:
    with pytest.raises(IdentityError) as info:
        net.resolver().resolve_did(ALICE)
    assert not isinstance(info.value, DidDocumentError)
    net.routes[f"{PLC}/{ALICE}"] = httpx.Response(503)
    with pytest.raises(RetriesExhaustedError):
        net.resolver().resolve_did(ALICE)


def test_results_are_cached_until_the_ttl_passes(net: Network) -> None:
    now = [0.0]
    net.serve_doc(ALICE)
    net.txt["_atproto.alice.example.com"] = [f"did={ALICE}"]
    resolver = net.resolver(ttl_seconds=60, clock=lambda: now[0])
    resolver.resolve("alice.example.com")
    resolver.resolve("alice.example.com")
    assert (len(net.hits), len(net.dns_hits)) == (1, 1)
    now[0] = 61.0
    resolver.resolve("alice.example.com")
    assert (len(net.hits), len(net.dns_hits)) == (2, 2)


def test_did_web_document(net: Network) -> None:
    did = "did:web:alice.example.com"
    net.routes["https://alice.example.com/.well-known/did.json"] = httpx.Response(200, json=document(did))
    net.txt["_atproto.alice.example.com"] = [f"did={did}"]
    ident = net.resolver().resolve(did)
    assert (ident.did, ident.handle) == (did, "alice.example.com")


@pytest.mark.parametrize(
    "did", ["did:web:localhost%3A2583", "did:web:example.com%3A8443", "did:web:example.com:user:alice"]
)
def test_did_web_ports_and_paths_are_refused(net: Network, did: str) -> None:
    with pytest.raises(IdentityError):
        net.resolver().resolve_did(did)
    assert net.hits == []


def test_did_web_localhost_port_only_with_private_hosts() -> None:
    did = "did:web:localhost%3A2583"
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=document(did, pds="http://localhost:2583"))

    client = XrpcClient(transport=httpx.MockTransport(handler), allow_private_hosts=True)
    doc = IdentityResolver(client, txt_lookup=lambda name: []).resolve_did(did)
    assert seen == ["http://localhost:2583/.well-known/did.json"]
    assert doc.pds_endpoint == "http://localhost:2583"


@pytest.mark.parametrize(
    "did", ["did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", "did:plc:SHOUTING0189abcdefghijklm"]
)
def test_unsupported_or_malformed_dids(net: Network, did: str) -> None:
    with pytest.raises(IdentityError):
        net.resolver().resolve_did(did)


def test_private_plc_url_needs_allow_private_hosts() -> None:
    with pytest.raises(ConfigError):
        IdentityResolver(
            XrpcClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
            plc_url="http://localhost:2582",
        )


# -- hostile DID documents --------------------------------------------------------


def _mutate(change: Callable[[dict[str, Any]], object]) -> bytes:
    doc = document(ALICE)
    change(doc)
    return json.dumps(doc).encode()


HOSTILE: dict[str, tuple[bytes, type[Exception]]] = {
    "not json": (b"<html>hello</html>", DidDocumentError),
    "json list": (b"[1, 2]", DidDocumentError),
    "wrong id": (_mutate(lambda d: d.update(id=BOB)), DidDocumentError),
    "huge": (_mutate(lambda d: d.update(padding="a" * 300_000)), DidDocumentError),
    "no pds": (_mutate(lambda d: d.update(service=[])), DidDocumentError),
    "services not a list": (_mutate(lambda d: d.update(service={"id": "#atproto_pds"})), DidDocumentError),
    "duplicate pds": (_mutate(lambda d: d["service"].append(dict(d["service"][0]))), DidDocumentError),
    "pds wrong type": (_mutate(lambda d: d["service"][0].update(type="Other")), DidDocumentError),
    "pds endpoint not a string": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint=["x"])),
        DidDocumentError,
    ),
    "pds with path": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint="https://pds.example.com/x?y=1")),
        DidDocumentError,
    ),
    "pds ftp": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint="ftp://pds.example.com")),
        UnsafeEndpointError,
    ),
    "pds private": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint="http://10.0.0.5")),
        UnsafeEndpointError,
    ),
    "pds metadata": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint="http://169.254.169.254")),
        UnsafeEndpointError,
    ),
    "pds loopback": (
        _mutate(lambda d: d["service"][0].update(serviceEndpoint="http://localhost:2583")),
        UnsafeEndpointError,
    ),
    "no key": (_mutate(lambda d: d.update(verificationMethod=[])), DidDocumentError),
    "duplicate key": (
        _mutate(lambda d: d["verificationMethod"].append({**d["verificationMethod"][0], "id": "#atproto"})),
        DidDocumentError,
    ),
    "key type": (
        _mutate(lambda d: d["verificationMethod"][0].update(type="RsaVerificationKey2018")),
        DidDocumentError,
    ),
    "key not multibase": (
        _mutate(lambda d: d["verificationMethod"][0].update(publicKeyMultibase="04abcdef")),
        DidDocumentError,
    ),
    "aka not strings": (_mutate(lambda d: d.update(alsoKnownAs=[{"at": 1}])), DidDocumentError),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_documents_fail_cleanly(net: Network, case: str) -> None:
    body, expected = HOSTILE[case]
    net.routes[f"{PLC}/{ALICE}"] = httpx.Response(200, content=body)
    with pytest.raises(expected) as info:
        net.resolver().resolve(ALICE)
    assert isinstance(info.value, IdentityError)
    if case == "huge":
        assert isinstance(info.value.__cause__, ResponseTooLargeError)


def test_older_key_form_is_accepted(net: Network) -> None:
    older = "zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR"
    net.routes[f"{PLC}/{ALICE}"] = httpx.Response(
        200,
        content=_mutate(
            lambda d: d["verificationMethod"][0].update(
                type="EcdsaSecp256k1VerificationKey2019", publicKeyMultibase=older
            )
        ),
    )
    key = net.resolver().resolve_did(ALICE).signing_key
    assert (key.type, key.public_key_multibase) == ("EcdsaSecp256k1VerificationKey2019", older)


def test_dns_txt_lookup_joins_strings_and_maps_dns_failures_to_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver

    from lairs_etl.atproto.identity import dns_txt_lookup

    record = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, f'"did=did:plc:" "{ALICE[8:]}"')
    asked: list[tuple[str, str]] = []

    def answer(name: str, kind: str, lifetime: float) -> list[object]:
        asked.append((name, kind))
        return [record]

    monkeypatch.setattr(dns.resolver, "resolve", answer)
    assert dns_txt_lookup("_atproto.alice.example.com") == [f"did={ALICE}"]
    assert asked == [("_atproto.alice.example.com", "TXT")]

    def nxdomain(name: str, kind: str, lifetime: float) -> list[object]:
        raise dns.resolver.NXDOMAIN

    monkeypatch.setattr(dns.resolver, "resolve", nxdomain)
    assert dns_txt_lookup("_atproto.nobody.example.com") == []
