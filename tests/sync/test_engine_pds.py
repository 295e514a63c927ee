"""A run's actors land in one commit (or one per chunk); failures stay with their actors.

Against the real PDS: parallel fetches, commits made by the engine's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.errors import RepositoryError
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import ActorSync, Stage, SyncOptions, Target, sync

pytestmark = [pytest.mark.pds]

COLLECTIONS = ["pub.layers.corpus.corpus", "pub.layers.expression.expression"]


@pytest.fixture(scope="module")
def three_actors(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(
        local_pds, actors=3, records_per_type=2, invalid_per_actor=0, prefix="chunk", collections=COLLECTIONS
    )


def _refresh(
    local_pds: LocalPds, repo_url: str, dids: Sequence[str], repository: Any = None, **kwargs: Any
) -> list[ActorSync]:
    targets = [Target(did) for did in dids]
    return _sync_targets(local_pds, repository or Repository.open(repo_url), targets, **kwargs)


def _sync_targets(
    local_pds: LocalPds, repository: Repository, targets: list[Target], **kwargs: Any
) -> list[ActorSync]:
    options = SyncOptions(
        tracked=tuple(COLLECTIONS), fetch_mode="car", stages=frozenset(Stage) - {Stage.PARQUET}, **kwargs
    )
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        report = sync(targets, client=client, resolver=resolver, repository=repository, options=options)
    return list(report.actors)


def test_a_run_is_one_commit_holding_every_actor(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    outcomes = _refresh(local_pds, url, three_actors.dids, workers=3)
    repo = Repository.open(url)
    assert len(list(repo.log())) == 1
    head = repo.head()
    assert head is not None
    assert {o.commit for o in outcomes} == {head.encode()}
    assert set(repo.actors()) == set(three_actors.dids)
    for actor, outcome in zip(three_actors.actors, outcomes, strict=True):
        assert outcome.did == actor.did
        assert outcome.ok
        assert [c.collection for c in outcome.collections] == sorted(COLLECTIONS)
        assert all(c.records == c.valid == actor.count(c.collection) for c in outcome.collections)


def test_commits_come_in_chunks_of_staged_records(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    outcomes = _refresh(local_pds, url, three_actors.dids, commit_every=1)
    repo = Repository.open(url)
    assert len(list(repo.log())) == len(three_actors.dids)
    assert len({o.commit for o in outcomes}) == len(three_actors.dids)


def test_an_unknown_actor_fails_alone(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    ghost = "did:plc:" + "z" * 24
    dids = [three_actors.dids[0], ghost, three_actors.dids[1]]
    outcomes = _refresh(local_pds, url, dids)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error_type is not None
    assert set(Repository.open(url).actors()) == {dids[0], dids[2]}


class _RefusingSecond(Repository):
    """The local repository, whose backend refuses the second call a subclass counts."""

    calls = 0

    def _count(self, what: str) -> None:
        type(self).calls += 1
        if type(self).calls == 2:
            raise RepositoryError(f"backend refused the {what}")


class _RefusingSecondCommit(_RefusingSecond):
    def commit(self, *args: Any, **kwargs: Any) -> Any:
        self._count("write")
        return super().commit(*args, **kwargs)


class _RefusingSecondStage(_RefusingSecond):
    """A backend fault mid-run: the second staging fails."""

    def stage(self, *args: Any, **kwargs: Any) -> Any:
        self._count("stage")
        return super().stage(*args, **kwargs)


def test_a_refused_commit_fails_only_its_chunk(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    _RefusingSecondCommit.calls = 0
    repo = _RefusingSecondCommit.open(url)
    outcomes = _refresh(local_pds, url, three_actors.dids, repository=repo, commit_every=1, workers=1)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error_type == "RepositoryError"
    first, _, third = three_actors.dids
    assert set(Repository.open(url).actors()) == {first, third}


def test_an_actor_named_twice_is_synced_once_and_reported_for_both_names(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    """A handle and its DID (or one name twice) are one actor: staged once, both outcomes say so.

    Staging it twice once let a failure of the second staging drop the first one's
    writes too, while the first was reported committed.
    """
    url = str(tmp_path / "repo")
    Repository.init(url)
    _RefusingSecondStage.calls = 0
    actor, other = three_actors.actors[0], three_actors.actors[1]
    names = [actor.handle, actor.did, actor.did, other.did]
    outcomes = _sync_targets(local_pds, _RefusingSecondStage.open(url), [Target(n) for n in names], workers=2)
    assert [o.actor for o in outcomes] == names
    assert [o.did for o in outcomes] == [actor.did, actor.did, actor.did, other.did]
    # The second staging is the other actor's: it fails alone, the named-twice actor lands.
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert outcomes[0].commit == outcomes[1].commit == outcomes[2].commit is not None
    assert outcomes[1].collections == outcomes[0].collections
    repo = Repository.open(url)
    assert set(repo.actors()) == {actor.did}
    assert sum(1 for _ in repo.iter_records(repo.head(), dids=[actor.did])) == len(actor.uris)


def test_a_later_name_asking_for_fewer_collections_takes_the_first_names_sync(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    actor = three_actors.actors[0]
    targets = [Target(actor.handle), Target(actor.did, (COLLECTIONS[0],))]
    whole, part = _sync_targets(local_pds, Repository.open(url), targets)
    assert whole.ok
    assert part.ok
    assert part.commit == whole.commit is not None
    assert part.collections == whole.collections
    repo = Repository.open(url)
    stored = {str(r.uri.collection) for r in repo.iter_records(repo.head(), dids=[actor.did])}
    assert stored == set(COLLECTIONS)


def test_an_actor_named_twice_with_other_collections_fails_the_second_name(
    tmp_path: Path, local_pds: LocalPds, three_actors: SeededCorpus
) -> None:
    url = str(tmp_path / "repo")
    Repository.init(url)
    actor = three_actors.actors[0]
    targets = [Target(actor.did, (COLLECTIONS[0],)), Target(actor.handle, (COLLECTIONS[1],))]
    outcomes = _sync_targets(local_pds, Repository.open(url), targets)
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error_type == "ConfigError"
    assert actor.did in (outcomes[1].error or "")
    repo = Repository.open(url)
    stored = {str(r.uri.collection) for r in repo.iter_records(repo.head(), dids=[actor.did])}
    assert stored == {COLLECTIONS[0]}
