"""``lairs-etl resolve HANDLE_OR_DID``: who an actor is, where their PDS is, which key signs."""

from __future__ import annotations

import json

import click

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.cli._network import network_options
from lairs_etl.errors import LairsError

__all__ = ["command"]


@click.command(name="resolve")
@click.argument("handle_or_did")
@network_options
def command(handle_or_did: str, plc_url: str, handle_service: str | None, allow_private_hosts: bool) -> None:
    """Resolve a handle or DID and print the verified identity as JSON."""
    try:
        with XrpcClient(allow_private_hosts=allow_private_hosts) as client:
            resolver = IdentityResolver(client, plc_url=plc_url, handle_service=handle_service)
            identity = resolver.resolve(handle_or_did)
    except LairsError as exc:
        one_line = " ".join(str(exc).split())
        raise click.ClickException(f"{type(exc).__name__}: {one_line}") from exc
    click.echo(
        json.dumps(
            {
                "did": identity.did,
                "handle": identity.handle,
                "handle_valid": identity.handle_valid,
                "claimed_handle": identity.claimed_handle,
                "pds": identity.pds_url,
                "signing_key": {
                    "type": identity.signing_key.type,
                    "public_key_multibase": identity.signing_key.public_key_multibase,
                },
                "plc_url": resolver.plc_url,
            },
            indent=2,
        )
    )
