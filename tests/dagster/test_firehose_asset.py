"""``layers/firehose`` in Dagster: runs follow the stream from the last cursor; a sensor keeps one going."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    materialize,
)

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import definitions_from_file
from lairs_etl.dagster.constants import ACTORS_PARTITIONS, ASSET_METADATA, FIREHOSE_JOB, META_CURSOR
from lairs_etl.demo.runner import write_settings
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Target, sync
from tests.sync._helpers import head_seq, pds_data

pytestmark = [pytest.mark.pds]

FIREHOSE_KEY = AssetKey(["layers", "firehose"])
EXPR = "pub.layers.expression.expression"
WHEN = "2026-01-01T00:00:00.000Z"


def _expression(text: str) -> dict[str, object]:
    return {"$type": EXPR, "createdAt": WHEN, "kind": "sentence", "text": text}


def test_a_firehose_run_applies_the_stream_from_the_last_cursor(
    tmp_path: Path, local_pds: LocalPds, pds_account: Callable[..., Account]
) -> None:
    followed, newcomer = pds_account("dgfh"), pds_account("dgnew")
    followed.create_record(EXPR, _expression("Before the stream."))
    settings = write_settings(tmp_path, local_pds)
    assert FIREHOSE_KEY not in {k for a in definitions_from_file(settings).assets or () for k in a.keys}  # type: ignore[union-attr]
    fields = json.loads(settings.read_text(encoding="utf-8"))
    fields["firehose"] = {
        "follow": True,
        "relay_url": local_pds.pds_url,
        "seconds_per_run": 3,
        "discover": True,
    }
    settings.write_text(json.dumps(fields), encoding="utf-8")
    defs = definitions_from_file(settings)
    repo_url = str(defs.resources["repository"].url)  # type: ignore[index,union-attr]
    repo = Repository.init(repo_url)
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        assert sync([Target(followed.did)], client=client, resolver=resolver, repository=repo).ok
    start = head_seq(local_pds)
    assert start is not None
    followed.create_record(EXPR, _expression("On the stream."))
    newcomer.create_record(EXPR, _expression("A new voice."))
    assets = [a for a in defs.assets or () if isinstance(a, AssetsDefinition)]
    with DagsterInstance.ephemeral() as instance:
        # Where to start: a cursor recorded on the asset (as a previous run leaves it).
        instance.report_runless_asset_event(AssetMaterialization(FIREHOSE_KEY, metadata={META_CURSOR: start}))
        result = materialize(
            assets, selection=[FIREHOSE_KEY], resources=dict(defs.resources or {}), instance=instance
        )
        assert result.success
        (materialization,) = result.asset_materializations_for_node("layers_firehose")
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        assert set(metadata) <= set(ASSET_METADATA["firehose"])
        assert metadata["lairs_etl/commits_applied"] == 1
        assert metadata["lairs_etl/ops_applied"] == 1
        assert metadata["lairs_etl/rejected"] == 0
        assert metadata["lairs_etl/discovered_actors"] == 1
        assert metadata[META_CURSOR] > start
        assert instance.get_dynamic_partitions(ACTORS_PARTITIONS) == [newcomer.did]
        actors = Repository.open(repo_url).actors()
        assert actors[followed.did].root == pds_data(followed)
        assert actors[newcomer.did].root == pds_data(newcomer)  # fetched whole when first seen

        # The next run resumes after that cursor: nothing applied twice.
        again = materialize(
            assets, selection=[FIREHOSE_KEY], resources=dict(defs.resources or {}), instance=instance
        )
        (second,) = again.asset_materializations_for_node("layers_firehose")
        assert second.metadata["lairs_etl/commits_applied"].value == 0
        assert second.metadata["lairs_etl/stale_commits"].value == 0

        sensor = next(s for s in defs.sensors or () if s.name == "lairs_firehose")
        request = sensor(build_sensor_context(instance=instance))  # type: ignore[operator]
        assert isinstance(request, RunRequest)
        instance.add_run(DagsterRun(job_name=FIREHOSE_JOB, run_id="f" * 36, status=DagsterRunStatus.STARTED))
        assert isinstance(sensor(build_sensor_context(instance=instance)), SkipReason)  # type: ignore[operator]
