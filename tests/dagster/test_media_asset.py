"""``layers/media`` in Dagster: one actor's blobs fetched, verified, kept, listed, with metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import AssetKey, AssetsDefinition, DagsterInstance, materialize

from lairs_etl.atproto.cid import cid_for_raw
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import definitions_from_file
from lairs_etl.dagster.constants import ACTORS_PARTITIONS, ASSET_METADATA
from lairs_etl.demo.runner import write_settings
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Target, sync

pytestmark = [pytest.mark.pds]

MEDIA_KEY = AssetKey(["layers", "media"])
MEDIA = "pub.layers.media.media"
WHEN = "2026-01-01T00:00:00.000Z"
CLIP = b"RIFF" + b"\x01\x02" * 500


def test_media_is_defined_when_asked_and_materializes_an_actor(
    tmp_path: Path, local_pds: LocalPds, pds_account: Callable[..., Account]
) -> None:
    account = pds_account("dgmed")
    blob = account.upload_blob(CLIP, "audio/wav")
    account.create_record(MEDIA, {"$type": MEDIA, "createdAt": WHEN, "kind": "audio", "blob": blob})
    settings = write_settings(tmp_path, local_pds)
    assert MEDIA_KEY not in {k for a in definitions_from_file(settings).assets or () for k in a.keys}  # type: ignore[union-attr]
    fields = json.loads(settings.read_text(encoding="utf-8"))
    fields["media"] = {"fetch": True, "mime": ["audio/*"]}
    settings.write_text(json.dumps(fields), encoding="utf-8")
    repo = Repository.init(str(tmp_path / "repo"))
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        assert sync([Target(account.did)], client=client, resolver=resolver, repository=repo).ok
    defs = definitions_from_file(settings)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, [account.did])
        result = materialize(
            [a for a in defs.assets or () if isinstance(a, AssetsDefinition)],
            selection=[MEDIA_KEY],
            partition_key=account.did,
            resources=dict(defs.resources or {}),
            instance=instance,
        )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("layers_media")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert set(metadata) <= set(ASSET_METADATA["media"])
    assert metadata["lairs_etl/blobs_stored"] == 1
    assert metadata["lairs_etl/blob_bytes_fetched"] == len(CLIP)
    assert metadata["dagster/row_count"] == 1
    assert metadata["lairs_etl/status"] == "ok"
    assert Repository.open(str(tmp_path / "repo")).blobs.has(cid_for_raw(CLIP))
