"""A Dagster range run with one hostile actor: the good actors land, the hostile one fails alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from lairs_etl.dagster import AtprotoResource, LakeResource, RepositoryResource, layers_assets, partition_key
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from tests.hostile.peer import HostilePeer

pytestmark = [pytest.mark.pds, pytest.mark.slow]

COLLECTIONS = ["pub.layers.corpus.corpus", "pub.layers.expression.expression"]


@pytest.fixture(scope="module")
def two_actors(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(
        local_pds,
        actors=2,
        records_per_type=2,
        invalid_per_actor=0,
        prefix="hostile",
        collections=COLLECTIONS,
    )


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
    with HostilePeer(behaviour) as peer, DagsterInstance.ephemeral() as instance:
        hostile = str(peer.did)
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, [good.did, hostile, good2.did])
        result = materialize(
            [layers_assets(collections=COLLECTIONS)],
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": str(partition_key(good.did, COLLECTIONS[0])),
                "dagster/asset_partition_range_end": str(partition_key(good2.did, COLLECTIONS[-1])),
            },
        )
        events = {
            (e.asset_key, e.partition): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
    committed = AssetKey(["layers", "committed"])
    for collection in COLLECTIONS:
        for actor in (good.did, good2.did):
            assert (
                events[(committed, str(partition_key(actor, collection)))]["lairs_etl/status"].value == "ok"
            )
        failed = events[(committed, str(partition_key(hostile, collection)))]
        assert failed["lairs_etl/status"].value == "failed"
    stored = Repository.open(str(tmp_path / "repo")).actors()
    assert set(stored) == {good.did, good2.did}
