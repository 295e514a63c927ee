"""A corrupted or hostile actor fails in checks and metadata; the others still land."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import AssetKey, AssetsDefinition, DagsterInstance, ExecuteInProcessResult, materialize

from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.dagster import AtprotoResource, LakeResource, RepositoryResource, layers_assets, partition_key
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from tests.hostile.peer import HostilePeer

pytestmark = [pytest.mark.pds, pytest.mark.slow]

COLLECTIONS = ["pub.layers.corpus.corpus", "pub.layers.expression.expression"]


class _Tamper(httpx.BaseTransport):
    """Flips one byte in the middle of every CAR served for ``victim``."""

    def __init__(self, victim: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._victim = victim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.params.get("did") != self._victim or "com.atproto.sync." not in request.url.path:
            return response
        body = bytearray(response.read())
        if body and response.headers.get("content-type", "").startswith("application/vnd.ipld.car"):
            body[len(body) // 2] ^= 0xFF
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in {"content-length", "content-encoding"}
        }
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request)

    def close(self) -> None:
        self._inner.close()


class TamperingAtproto(AtprotoResource):
    victim: str

    def client(self) -> XrpcClient:
        return XrpcClient(transport=_Tamper(self.victim), allow_private_hosts=True, max_retries=0)


@pytest.fixture(scope="module")
def two_actors(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(
        local_pds, actors=2, records_per_type=2, invalid_per_actor=0, prefix="fault", collections=COLLECTIONS
    )


def test_corrupted_actor_fails_verification_without_failing_the_other(
    tmp_path: Path, local_pds: LocalPds, two_actors: SeededCorpus
) -> None:
    good, bad = two_actors.actors
    resources = {
        "atproto": TamperingAtproto(
            plc_url=local_pds.plc_url,
            handle_service=local_pds.pds_url,
            allow_private_hosts=True,
            victim=bad.did,
        ),
        "repository": RepositoryResource(url=str(tmp_path / "repo")),
        "lake": LakeResource(url=str(tmp_path / "lake")),
    }
    result, events = _range_run(
        layers_assets(collections=COLLECTIONS, fetch_mode="car"), resources, [good.did, bad.did]
    )
    assert not result.success  # the blocking verification check stops the run ...
    (verified,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "verification_passed"]
    assert not verified.passed
    failed = [row.data for row in verified.metadata["lairs_etl/failed_partitions"].value.records]
    assert {row["partition"].split("|")[0] for row in failed} == {bad.did}
    assert all(
        row["error_type"] in {"BlockHashMismatch", "CarFormatError", "MstStructureError"} for row in failed
    )
    fetched = AssetKey(["layers", "fetched"])
    for collection in COLLECTIONS:  # ... but the good actor's partitions are materialized and committed
        assert events[(fetched, str(partition_key(good.did, collection)))]["lairs_etl/status"].value == "ok"
        assert (
            events[(fetched, str(partition_key(bad.did, collection)))]["lairs_etl/status"].value == "failed"
        )
    actors = Repository.open(str(tmp_path / "repo")).actors()
    assert good.did in actors
    assert bad.did not in actors


def _range_run(
    assets: AssetsDefinition, resources: Mapping[str, object], actors: list[str]
) -> tuple[ExecuteInProcessResult, dict[tuple[AssetKey, str | None], Mapping[str, Any]]]:
    """One run over every partition of ``actors`` (a range, as a backfill sends it)."""
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, actors)
        result = materialize(
            [assets],
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": str(partition_key(actors[0], COLLECTIONS[0])),
                "dagster/asset_partition_range_end": str(partition_key(actors[-1], COLLECTIONS[-1])),
            },
        )
        events = {
            (e.asset_key, e.partition): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
    return result, events


@pytest.mark.parametrize("behaviour", ["deep-did-doc", "huge-int-list-records"])
def test_a_hostile_actor_in_a_range_run_fails_alone(
    behaviour: str, tmp_path: Path, local_pds: LocalPds, two_actors: SeededCorpus
) -> None:
    good, good2 = two_actors.actors
    resources = {
        "atproto": AtprotoResource(
            plc_url=local_pds.plc_url,
            handle_service=local_pds.pds_url,
            allow_private_hosts=True,
            limits={"request_seconds": 3, "actor_seconds": 6},
        ),
        "repository": RepositoryResource(url=str(tmp_path / "repo")),
        "lake": LakeResource(url=str(tmp_path / "lake")),
    }
    with HostilePeer(behaviour) as peer:
        hostile = str(peer.did)
        _, events = _range_run(
            layers_assets(collections=COLLECTIONS), resources, [good.did, hostile, good2.did]
        )
    committed = AssetKey(["layers", "committed"])
    for collection in COLLECTIONS:
        for actor in (good.did, good2.did):
            assert (
                events[(committed, str(partition_key(actor, collection)))]["lairs_etl/status"].value == "ok"
            )
        failed = events[(committed, str(partition_key(hostile, collection)))]
        assert failed["lairs_etl/status"].value == "failed"
    assert set(Repository.open(str(tmp_path / "repo")).actors()) == {good.did, good2.did}


def test_one_partition_in_process_commits_only_that_collection(
    tmp_path: Path, local_pds: LocalPds, two_actors: SeededCorpus
) -> None:
    actor = two_actors.actors[0]
    resources = {
        "atproto": AtprotoResource(
            plc_url=local_pds.plc_url, handle_service=local_pds.pds_url, allow_private_hosts=True
        ),
        "repository": RepositoryResource(url=str(tmp_path / "repo")),
        "lake": LakeResource(url=str(tmp_path / "lake")),
    }
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, [actor.did])
        key = str(partition_key(actor.did, COLLECTIONS[0]))
        result = materialize(
            [layers_assets(collections=COLLECTIONS)],
            instance=instance,
            resources=resources,
            partition_key=key,
        )
    assert result.success
    meta = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert meta["fetched"]["dagster/row_count"].value == actor.count(COLLECTIONS[0])
    assert meta["committed"]["lairs_etl/commit"].value
    assert meta["parquet"]["dagster/row_count"].value == actor.count(COLLECTIONS[0], valid=True)
    stored = list(Repository.open(str(tmp_path / "repo")).iter_records())
    assert {str(r.uri.collection) for r in stored} == {COLLECTIONS[0]}
