"""Identity resolution against the real reference PDS and PLC directory on loopback."""

from __future__ import annotations

import pytest

from lairs_etl.atproto.didoc import KEY_TYPES, parse_did_document
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.netsafety import HostPolicy
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, IdentityError, UnsafeEndpointError
from lairs_etl.localpds import LocalPds
from tests.fixtures.pds import AccountFactory

pytestmark = pytest.mark.pds


def _resolver(client: XrpcClient, pds: LocalPds, *, service: bool = True) -> IdentityResolver:
    return IdentityResolver(
        client,
        plc_url=pds.plc_url,
        handle_service=pds.pds_url if service else None,
        txt_lookup=lambda name: pytest.fail(f"DNS must not be asked about {name}"),
    )


def test_did_plc_resolves_through_the_local_plc(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("id")
    ident = _resolver(client, local_pds).resolve(account.did)
    assert ident.did == account.did
    assert (ident.handle, ident.handle_valid) == (account.handle, True)
    assert ident.pds_url == local_pds.pds_url.rstrip("/")
    # the reference PLC package still serves the older key form
    assert ident.signing_key.type == "EcdsaSecp256k1VerificationKey2019"
    assert ident.signing_key.type in KEY_TYPES
    assert ident.signing_key.public_key_multibase.startswith("z")


def test_handle_resolves_through_the_pds_and_checks_both_ways(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("hd")
    resolver = _resolver(client, local_pds)
    assert resolver.resolve_handle(account.handle) == account.did
    ident = resolver.resolve(account.handle)
    assert (ident.did, ident.handle) == (account.did, account.handle)


def test_handle_that_does_not_resolve_back_is_dropped_but_did_kept(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("nb")
    ident = _resolver(client, local_pds, service=False).resolve(account.did)
    assert (ident.did, ident.handle, ident.claimed_handle) == (account.did, None, account.handle)


def test_unknown_handle_on_the_pds(client: XrpcClient, local_pds: LocalPds) -> None:
    with pytest.raises(IdentityError):
        _resolver(client, local_pds).resolve("nobody-here.test")


def test_loopback_pds_is_refused_unless_allowed(
    client: XrpcClient, local_pds: LocalPds, pds_account: AccountFactory
) -> None:
    account = pds_account("sf")
    raw = client.get_bytes(f"{local_pds.plc_url}/{account.did}")
    assert parse_did_document(raw, account.did, policy=HostPolicy(allow_private_hosts=True)).pds_endpoint
    with pytest.raises(UnsafeEndpointError):
        parse_did_document(raw, account.did)
    with pytest.raises(ConfigError):
        IdentityResolver(XrpcClient(), plc_url=local_pds.plc_url)
    with XrpcClient() as strict, pytest.raises(UnsafeEndpointError):
        strict.query(local_pds.pds_url, "com.atproto.server.describeServer")
