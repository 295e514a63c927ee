"""The one way the publish tests apply a revision as its own account."""

from __future__ import annotations

from typing import Any

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account
from lairs_etl.publish import PublishReport, publish
from lairs_etl.repo import Repository


def apply_as(
    account: Account,
    repo: Repository,
    client: XrpcClient,
    resolver: IdentityResolver,
    *,
    rev: str = "main",
    **options: Any,
) -> PublishReport:
    """Publish ``rev`` of ``repo`` to ``account``'s PDS for real, logging in as it."""
    return publish(
        repo,
        rev,
        account.did,
        apply=True,
        client=client,
        resolver=resolver,
        password=lambda: account.password,
        **options,
    )
