"""A repository revision read as a view source gives the committed records."""

from __future__ import annotations

import secrets

from lairs_etl.views import MemorySource, RepositorySource, materialize
from tests.views import demo
from tests.views.repo_fixture import demo_repository


def test_repository_revision_as_source() -> None:
    url = f"memory://views-repo-{secrets.token_hex(6)}"
    commit = demo_repository(url)
    source = RepositorySource.open(url, "main")
    assert source.commit == commit
    assert list(source.actors()) == sorted({demo.ALICE, demo.BOB})
    expected = {r.cid: r for r in demo.source_records()}
    got = [r for did in source.actors() for r in source.records(did)]
    assert {r.cid for r in got} == set(expected)
    for record in got:
        assert record.value == expected[record.cid].value
        assert record.size == expected[record.cid].size
    only = list(source.records(demo.ALICE, [demo.EXPR]))
    assert {r.collection for r in only} == {demo.EXPR}
    assert len(only) == 3


def test_views_from_the_repository_equal_views_from_memory() -> None:
    url = f"memory://views-repo-{secrets.token_hex(6)}"
    commit = demo_repository(url)
    a = materialize(RepositorySource.open(url, commit), f"memory://views-{secrets.token_hex(6)}")
    b = materialize(MemorySource(commit, demo.source_records()), f"memory://views-{secrets.token_hex(6)}")
    assert a.manifest == b.manifest
