"""What the sync tests share: one engine run against the local PDS into a lake."""

from __future__ import annotations

from pathlib import Path

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, SyncOptions, SyncReport, Target, sync

EXPRESSION = "pub.layers.expression.expression"
LAYER = "pub.layers.annotation.annotationLayer"


def sync_to_lake(
    local_pds: LocalPds, repo: Repository, lake: str | Path, targets: list[Target], **options: object
) -> SyncReport:
    """``sync`` of ``targets`` into ``repo`` and ``lake``, ``options`` as ``SyncOptions`` fields."""
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        return sync(
            targets,
            client=client,
            resolver=resolver,
            repository=repo,
            lake=LakeTarget(str(lake)),
            options=SyncOptions(**options),  # type: ignore[arg-type]
        )
