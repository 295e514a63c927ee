"""``lairs-etl resolve HANDLE_OR_DID``: who an actor is, where their PDS is, which key signs."""

from __future__ import annotations

import json

import click

from lairs_etl.cli._network import Network, network_options

__all__ = ["command"]


@click.command(name="resolve")
@click.argument("handle_or_did")
@network_options
def command(handle_or_did: str, network: Network) -> None:
    """Resolve a handle or DID and print the verified identity as JSON."""
    with network.client() as client:
        resolver = network.resolver(client)
        identity = resolver.resolve(handle_or_did)
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
