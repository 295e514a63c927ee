"""One pass to the lake: what sync writes is what materialize writes; partial syncs keep state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Status, Target
from lairs_etl.views import RepositorySource, encode_actor, materialize, read_manifest
from tests.sync._helpers import EXPRESSION, LAYER, cli_env, sync_to_lake
from tests.views.lake import lake_files

pytestmark = [pytest.mark.pds, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(local_pds, actors=3, records_per_type=2, invalid_per_actor=2, prefix="lake")


def _files(root: Path) -> dict[str, bytes]:
    """The lake as its readers see it (manifest, actor states, current partition files)."""
    return lake_files(str(root))


def test_the_lake_a_sync_writes_is_the_one_materialize_writes(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    report = sync_to_lake(local_pds, repo, str(tmp_path / "synced"), [Target(d) for d in corpus.dids])
    assert report.ok, report.to_json()
    head = repo.head()
    assert head is not None
    assert report.commit == head.encode()
    materialize(RepositorySource(repo, head.encode()), str(tmp_path / "rebuilt"))
    synced, rebuilt = _files(tmp_path / "synced"), _files(tmp_path / "rebuilt")
    assert synced.keys() == rebuilt.keys()
    assert [name for name in synced if synced[name] != rebuilt[name]] == []
    # What each actor's outcome says is what the lake holds.
    manifest = read_manifest(str(tmp_path / "synced"))
    assert manifest is not None
    for seeded, outcome in zip(corpus.actors, report.actors, strict=True):
        assert outcome.status == Status.COMMITTED
        for collection in outcome.collections:
            assert collection.valid == seeded.count(collection.collection, valid=True)
            assert collection.invalid == seeded.count(collection.collection, valid=False)
            assert collection.lake_rows == collection.valid
            if collection.invalid:
                assert collection.invalid_path is not None
                assert len(collection.problems) >= collection.invalid


def test_an_incremental_sync_patches_the_lake_to_what_materialize_writes(
    tmp_path: Path, local_pds: LocalPds, monkeypatch: pytest.MonkeyPatch
) -> None:
    changing, quiet = seed_corpus(local_pds, actors=2, records_per_type=3, prefix="patch").actors
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    assert sync_to_lake(local_pds, repo, str(lake), [Target(changing.did), Target(quiet.did)]).ok
    account = changing.account
    assert account is not None
    valid = {str(u) for u in changing.uris if u not in changing.invalid}
    by_collection = {
        collection: [
            (str(r["uri"]).rsplit("/", 1)[1], r["value"])
            for r in account.list_records(collection)
            if r["uri"] in valid
        ]
        for collection in (EXPRESSION, LAYER)
    }
    expression_rkey, expression = by_collection[EXPRESSION][1]
    account.put_record(EXPRESSION, expression_rkey, {**expression, "text": "changed text"})
    layer_rkey, layer = by_collection[LAYER][0]
    account.put_record(LAYER, layer_rkey, {k: v for k, v in layer.items() if k != "createdAt"})  # now invalid
    account.delete_record(LAYER, by_collection[LAYER][1][0])
    child = {**expression, "parentRef": f"at://{changing.did}/{EXPRESSION}/{expression_rkey}"}
    account.create_record(EXPRESSION, child)
    read_back: list[tuple[str, tuple[str, ...] | None]] = []
    original = RepositorySource.records

    def spy(self: RepositorySource, did: str, collections: object = None) -> object:
        read_back.append((did, None if collections is None else tuple(collections)))  # type: ignore[arg-type]
        return original(self, did, collections)  # type: ignore[arg-type]

    monkeypatch.setattr(RepositorySource, "records", spy)
    report = sync_to_lake(local_pds, repo, str(lake), [Target(changing.did), Target(quiet.did)])
    monkeypatch.undo()
    assert report.ok, report.to_json()
    outcome = report.actors[0]
    assert outcome.incremental
    assert (outcome.records, outcome.deleted) == (3, 1)
    assert [a.status for a in report.actors] == [Status.COMMITTED, Status.UNCHANGED]
    assert read_back == []  # the changed partitions were patched, not rebuilt from the repository
    # The patched partitions hold what a rebuild of the same commit writes, byte for byte.
    head = repo.head()
    assert head is not None
    materialize(RepositorySource(repo, head.encode()), str(tmp_path / "rebuilt"))
    synced, rebuilt = _files(lake), _files(tmp_path / "rebuilt")
    changed = [n for n in rebuilt if f"collection={EXPRESSION}" in n or f"collection={LAYER}" in n]
    mine = [n for n in changed if encode_actor(changing.did) in n]
    assert len(mine) >= 3, mine  # the typed expressions, the expressions view, the invalid layer
    assert [n for n in mine if synced.get(n) != rebuilt[n]] == []
    manifest, again = read_manifest(str(lake)), read_manifest(str(tmp_path / "rebuilt"))
    assert manifest is not None
    assert again is not None
    assert manifest.stats == again.stats
    assert {e.key: e.partitions for e in manifest.tables} == {e.key: e.partitions for e in again.tables}


def test_a_partial_sync_keeps_what_is_known_of_the_other_collections(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    actor = corpus.actors[0]
    assert sync_to_lake(local_pds, repo, str(tmp_path / "lake"), [Target(actor.did)]).ok
    before = repo.actors()[actor.did]
    assert before.pds_rev is not None
    assert before.valid_count == sum(1 for u in actor.uris if u not in actor.invalid)
    # As from the Dagster UI: one actor x collection partition, full fetch of it alone.
    partial = sync_to_lake(
        local_pds, repo, str(tmp_path / "lake"), [Target(actor.did, (EXPRESSION,))], incremental=False
    )
    assert partial.ok, partial.to_json()
    after = repo.actors()[actor.did]
    assert (after.pds_rev, after.valid_count, after.invalid_count) == (
        before.pds_rev,
        before.valid_count,
        before.invalid_count,
    )
    assert dict(after.collections) == dict(before.collections)
    assert after.root == before.root  # same records: same tree
    # ... and the next incremental sync compares like with like: nothing to fetch.
    again = sync_to_lake(local_pds, repo, str(tmp_path / "lake"), [Target(actor.did)])
    assert [a.status for a in again.actors] == [Status.UNCHANGED]
    manifest = read_manifest(str(tmp_path / "lake"))
    assert manifest is not None
    assert sum(s.records for s in manifest.stats) == before.valid_count


def test_a_partial_sync_of_a_new_actor_then_the_rest(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    actor = corpus.actors[1]
    first = sync_to_lake(local_pds, repo, str(tmp_path / "lake"), [Target(actor.did, (LAYER,))])
    assert first.ok
    state = repo.actors()[actor.did]
    assert state.pds_rev is None  # the other collections are not known yet
    assert [name for name, _ in state.collections] == [LAYER]
    rest = sync_to_lake(local_pds, repo, str(tmp_path / "lake"), [Target(actor.did)])
    assert rest.ok
    assert rest.actors[0].status == Status.COMMITTED
    full = repo.actors()[actor.did]
    assert full.pds_rev is not None
    assert full.valid_count == sum(1 for u in actor.uris if u not in actor.invalid)


def test_the_sync_command_prints_one_summary(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    env = cli_env(local_pds)
    repo, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    args = ["sync", *corpus.dids[:2], "did:plc:" + "z" * 24, "--repo", repo, "--lake", lake]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output  # the unknown actor failed; the others landed
    summary = json.loads(result.stdout)
    assert [a["status"] for a in summary["actors"]] == ["committed", "committed", "failed"]
    assert summary["lake"] == lake
    for actor in summary["actors"][:2]:
        assert actor["lake_files"] > 0
        assert actor["records"] == actor["valid"] + actor["invalid"]
    assert "[3/3]" in result.stderr
    assert set(Repository.open(repo).actors()) == set(corpus.dids[:2])


def test_a_handle_and_its_did_sync_one_actor_once(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    """Both names get the actor's outcome, whether it changed (committed) or not (unchanged)."""
    env = cli_env(local_pds)
    actor = corpus.actors[0]
    repo, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    args = ["sync", actor.handle, actor.did, "--repo", repo, "--lake", lake]
    for status in ("committed", "unchanged"):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        first, second = json.loads(result.stdout)["actors"]
        assert (first.pop("actor"), second.pop("actor")) == (actor.handle, actor.did)
        assert first["status"] == status
        assert first == second
        assert "[2/2]" in result.stderr
    repository = Repository.open(repo)
    assert len(list(repository.log())) == 1
    assert repository.actors()[actor.did].valid_count == sum(1 for u in actor.uris if u not in actor.invalid)


def test_a_sync_tag_is_an_iceberg_tag_and_snapshots_name_the_branch(
    tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    from lairs_etl.views.iceberg import BRANCH_PROPERTY, LakeCatalog

    repo = Repository.init(str(tmp_path / "repo"))
    lake = str(tmp_path / "lake")
    targets = [Target(d) for d in corpus.dids]
    report = sync_to_lake(local_pds, repo, lake, targets, tag="corpus-v1")
    assert report.ok, report.to_json()
    catalog = LakeCatalog(lake)
    tables = catalog.all_tables()
    assert set(catalog.tags()["corpus-v1"]) == {t.name()[-1] for t in tables}
    for table in tables:
        snapshot = table.current_snapshot()
        assert snapshot is not None
        assert snapshot.summary is not None
        assert snapshot.summary[BRANCH_PROPERTY] == "main"

    # A tag of a run that left actors out waits until the lake is that commit throughout.
    assert sync_to_lake(local_pds, repo, lake, targets[:1], tag="partial", incremental=False).ok
    assert "partial" not in LakeCatalog(lake).tags()
