"""What the sync tests share: one engine run, or a firehose follower, against the local PDS into a lake."""

from __future__ import annotations

from pathlib import Path

from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.commit import parse_commit
from lairs_etl.atproto.firehose.client import Subscription
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, SyncOptions, SyncReport, Target, sync
from lairs_etl.sync.follow import FollowOptions, FollowReport, follow

EXPRESSION = "pub.layers.expression.expression"
LAYER = "pub.layers.annotation.annotationLayer"


def cli_env(local_pds: LocalPds) -> dict[str, str]:
    """The environment a ``lairs-etl`` command needs to reach the local PDS and PLC."""
    return {
        "LAIRS_PLC_URL": local_pds.plc_url,
        "LAIRS_HANDLE_SERVICE": local_pds.pds_url,
        "LAIRS_ALLOW_PRIVATE_HOSTS": "1",
    }


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


def follow_to_lake(
    local_pds: LocalPds,
    repo: Repository,
    lake: str | Path,
    cursor: int | None,
    *,
    service: str | None = None,
    seconds: float = 3.0,
    **kw: object,
) -> FollowReport:
    """``follow`` of ``service`` (default: the PDS's stream) for ``seconds`` into ``repo`` and ``lake``."""
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        return follow(
            service or local_pds.pds_url,
            repository=repo,
            resolver=resolver,
            client=client,
            lake=LakeTarget(str(lake)),
            cursor=cursor,
            seconds=seconds,
            allow_private_hosts=True,
            follow_options=FollowOptions(flush_seconds=0.5),
            **kw,  # type: ignore[arg-type]
        )


def head_seq(local_pds: LocalPds) -> int | None:
    """The seq of the newest event the PDS has sequenced (read once through the stream)."""
    subscription = Subscription(local_pds.pds_url, cursor=0, allow_private_hosts=True)
    for received in subscription.frames(tick=1.0):
        if received is None:
            break
    return subscription.cursor


def pds_data(account: Account) -> Cid:
    """The MST root the PDS's latest signed commit names."""
    reader = read_car(account.get_repo())
    blocks = dict(reader)
    return parse_commit(blocks[reader.roots[0]]).data
