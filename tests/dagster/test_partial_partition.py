"""One actor x collection partition after a full refresh (the UI scenario) keeps the actor whole.

Through Dagster for real: the definitions a deployment builds from its settings, the
change sensor's own run request for the full refresh, then one partition materialized
as the UI launches it (the four stage assets of one ``actor|collection`` key). The
actor's state in the repository, the ``layers/snapshot`` totals and the change sensor
must all still see the whole actor at its PDS rev.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import AssetKey, AssetsDefinition, DagsterInstance, Definitions, materialize

from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import AtprotoResource, LairsSettings, build_definitions, partition_key
from lairs_etl.dagster import constants as c
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.dagster.inprocess import execute_run_request, tick_sensor
from lairs_etl.dagster.partitions import tracked_collections
from lairs_etl.dagster.sensors import actor_run_request
from lairs_etl.demo import SeededActor, minimal_record, seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository

pytestmark = [pytest.mark.pds, pytest.mark.slow]

EXPRESSION = "pub.layers.expression.expression"
STAGE_KEYS = [AssetKey(["layers", stage]) for stage in c.STAGES]
SNAPSHOT = AssetKey(["layers", "snapshot"])


class _FirstProbeFails(httpx.BaseTransport):
    """Answers the first ``getLatestCommit`` with a 503 (a PDS hiccup); everything else passes."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.probes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/com.atproto.sync.getLatestCommit"):
            self.probes += 1
            if self.probes == 1:
                return httpx.Response(503, json={"error": "Unavailable"}, request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class ProbeFailingAtproto(AtprotoResource):
    """The deployment's resource, but each run's first freshness probe fails: the run
    cannot tell the actor is unchanged, so it fetches the partition's collection."""

    def client(self) -> XrpcClient:
        return XrpcClient(transport=_FirstProbeFails(), allow_private_hosts=True, max_retries=0)


@pytest.fixture
def actor(local_pds: LocalPds) -> SeededActor:
    (seeded,) = seed_corpus(local_pds, actors=1, records_per_type=1, invalid_per_actor=2, prefix="ui").actors
    return seeded


@pytest.fixture
def settings(tmp_path: Path, local_pds: LocalPds) -> LairsSettings:
    return LairsSettings.model_validate(
        {
            "atproto": {
                "plc_url": local_pds.plc_url,
                "handle_service": local_pds.pds_url,
                "allow_private_hosts": True,
            },
            "repository": {"url": str(tmp_path / "repo")},
            "lake": {"url": str(tmp_path / "lake")},
            "discovery": {"pds_hosts": [local_pds.pds_url]},
        }
    )


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _assets(defs: Definitions) -> list[AssetsDefinition]:
    return [a for a in defs.assets or () if isinstance(a, AssetsDefinition)]


def _snapshot(defs: Definitions, instance: DagsterInstance) -> Mapping[str, Any]:
    result = materialize(
        _assets(defs), selection=[SNAPSHOT], resources=dict(defs.resources or {}), instance=instance
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.parametrize("probe", ["answers", "fails-once"])
def test_one_partition_after_a_full_refresh_keeps_the_actor_whole(
    probe: str,
    tmp_path: Path,
    actor: SeededActor,
    settings: LairsSettings,
    instance: DagsterInstance,
) -> None:
    defs = build_definitions(settings)
    repo_url = str(tmp_path / "repo")
    valid = sum(1 for u in actor.uris if u not in actor.invalid)
    invalid = len(actor.invalid)
    assert invalid == 2
    instance.add_dynamic_partitions(ACTORS_PARTITIONS, [actor.did])
    # The full refresh, as the change sensor requests it: every collection of the actor, one run.
    collections = tracked_collections(settings.collections)
    full = execute_run_request(
        defs, actor_run_request(actor.did, collections, STAGE_KEYS, run_key=None), instance
    )
    assert full.success
    before = Repository.open(repo_url).actors()[actor.did]
    assert before.pds_rev is not None
    assert (before.valid_count, before.invalid_count) == (valid, invalid)
    assert _snapshot(defs, instance)[c.META_VALID] == valid
    # One actor x collection partition, launched as the UI launches it.
    resources = dict(defs.resources or {})
    if probe == "fails-once":
        resources["atproto"] = ProbeFailingAtproto(**settings.atproto.model_dump())
    key = str(partition_key(actor.did, EXPRESSION))
    one = materialize(
        _assets(defs), selection=STAGE_KEYS, partition_key=key, resources=resources, instance=instance
    )
    assert one.success
    meta: dict[str, Mapping[str, Any]] = {}
    for event in one.get_asset_materialization_events():
        assert event.asset_key is not None
        meta[event.asset_key.path[-1]] = event.materialization.metadata
    assert set(meta) == set(c.STAGES)
    # What the partition reports is its own collection's count ...
    assert meta["committed"][c.META_VALID].value == actor.count(EXPRESSION, valid=True)
    assert meta["parquet"][c.META_ROW_COUNT].value == actor.count(EXPRESSION, valid=True)
    # ... fetched when the run could not tell the actor unchanged, not fetched when it could.
    fetched_as = meta["fetched"][c.META_FETCH_MODE].value
    if probe == "fails-once":
        assert fetched_as in {"car", "tree", "records"}, fetched_as
        assert meta["fetched"][c.META_ROW_COUNT].value == actor.count(EXPRESSION)
        assert meta["committed"][c.META_COMMIT].value  # fetched and committed again
    else:
        assert fetched_as == "unchanged", fetched_as
    # ... while the repository still holds the whole actor at its rev, with its totals.
    after = Repository.open(repo_url).actors()[actor.did]
    assert (after.pds_rev, after.valid_count, after.invalid_count) == (
        before.pds_rev,
        before.valid_count,
        before.invalid_count,
    )
    assert dict(after.collections) == dict(before.collections)
    assert after.root == before.root
    # The snapshot reports the full actor, not the one collection the last run touched.
    snapshot = _snapshot(defs, instance)
    assert snapshot["lairs_etl/actors"] == 1
    assert (snapshot[c.META_VALID], snapshot[c.META_INVALID]) == (valid, invalid)
    assert snapshot[c.META_ROW_COUNT] == valid + invalid
    # The change sensor, starting afresh from the repository's revs, asks for no re-pull ...
    quiet = tick_sensor(defs, "lairs_changes", instance)
    assert quiet.run_requests == ()
    # ... and it does ask once the actor's PDS rev moves (so the silence above means something).
    account = actor.account
    assert account is not None
    account.create_record("pub.layers.corpus.corpus", minimal_record("pub.layers.corpus.corpus"))
    moved = tick_sensor(defs, "lairs_changes", instance, quiet.cursor)
    assert [r.run_key.split("@")[0] for r in moved.run_requests if r.run_key] == [actor.did]
