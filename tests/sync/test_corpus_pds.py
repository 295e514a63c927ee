"""A corpus found from its URI alone on the real PDS: forward closure across actors, bounded, cyclic-safe."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.cli import main
from lairs_etl.errors import ConfigError
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import (
    ClosureLimits,
    CorpusSync,
    LakeTarget,
    Status,
    Target,
    sync,
    sync_corpora,
)
from lairs_etl.sync.discovery import discover
from lairs_etl.views import build_warehouse, run_query
from tests.sync._appview import Appview, serve
from tests.sync._helpers import cli_env

pytestmark = pytest.mark.pds

EXPR = "pub.layers.expression.expression"
LAYER = "pub.layers.annotation.annotationLayer"
CORPUS = "pub.layers.corpus.corpus"
MEMBER = "pub.layers.corpus.membership"
MEDIA = "pub.layers.media.media"
WHEN = "2026-01-01T00:00:00.000Z"


@dataclass(frozen=True)
class World:
    """Five accounts; the corpus reaches four of them, one only through another's record."""

    curator: Account  # the corpus, its memberships, an annotation layer
    writer: Account  # the member expressions
    archive: Account  # the document a member expression is part of (parentRef); points back: a cycle
    media: Account  # the media record an expression's mediaRef names
    bystander: Account  # Layers records nobody in the corpus references
    corpus: str


def _expression(text: str, **refs: str) -> dict[str, object]:
    return {"$type": EXPR, "createdAt": WHEN, "id": text[:8], "kind": "sentence", "text": text, **refs}


def _annotation(label: str, start: int, end: int) -> dict[str, object]:
    span = {"byteStart": start, "byteEnd": end}
    return {"uuid": {"value": label}, "label": label, "anchor": {"textSpan": span}}


@pytest.fixture
def world(pds_account: Callable[..., Account]) -> World:
    curator, writer, archive, media, bystander = (pds_account(p) for p in ("cur", "wri", "arc", "med", "by"))
    clip = media.create_record(
        MEDIA, {"$type": MEDIA, "createdAt": WHEN, "kind": "audio", "mimeType": "audio/wav"}
    )
    document = archive.create_record(EXPR, _expression("The whole document.", mediaRef=str(clip.uri)))
    first = writer.create_record(EXPR, _expression("Café 東京.", parentRef=str(document.uri)))
    second = writer.create_record(EXPR, _expression("Alice visits Paris."))
    # The archive's second expression points back at the writer's: the closure must not loop.
    archive.create_record(EXPR, _expression("A quote of it.", parentRef=str(first.uri)))
    corpus = curator.create_record(
        CORPUS, {"$type": CORPUS, "createdAt": WHEN, "name": "Tiny", "version": "1"}
    )
    for expression, split in ((first, "train"), (second, "test")):
        curator.create_record(
            MEMBER,
            {
                "$type": MEMBER,
                "createdAt": WHEN,
                "corpusRef": str(corpus.uri),
                "expressionRef": str(expression.uri),
                "split": split,
            },
        )
    curator.create_record(
        LAYER,
        {
            "$type": LAYER,
            "createdAt": WHEN,
            "expression": str(first.uri),
            "kind": "span",
            "annotations": [
                _annotation("CITY", 6, 12),  # "東京" in "Café 東京."
                _annotation("BAD", 7, 12),  # starts inside "東"
            ],
        },
    )
    bystander.create_record(EXPR, _expression("Unrelated."))
    return World(curator, writer, archive, media, bystander, str(corpus.uri))


def _sync(
    local_pds: LocalPds,
    repo: Repository,
    corpus: str,
    lake: Path | None = None,
    *,
    appview: str | None = None,
    **limits: int,
) -> CorpusSync:
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        return sync_corpora(
            [corpus],
            client=client,
            resolver=resolver,
            repository=repo,
            lake=None if lake is None else LakeTarget(str(lake)),
            limits=ClosureLimits(**limits),
            appview_url=appview,
        )


def test_a_corpus_is_found_from_its_uri_alone(local_pds: LocalPds, world: World, tmp_path: Path) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    result = _sync(local_pds, repo, world.corpus, lake)
    assert result.ok, result.to_json()
    synced = {a.did for a in result.report.actors}
    reached = {world.curator.did, world.writer.did, world.archive.did, world.media.did}
    assert synced == reached  # and never the bystander
    assert all(a.status == Status.COMMITTED for a in result.report.actors)
    [closure] = result.closures
    assert closure.found
    assert closure.members == 2
    assert closure.missing == ()
    assert closure.truncated is None
    assert closure.actors[0] == world.curator.did
    assert set(closure.actors) == reached
    assert "no appview" in closure.found_by
    # owner; then the writer (memberships, layer); then the archive (parentRef); then media (mediaRef)
    assert result.rounds == 4
    assert set(repo.actors()) == reached
    # corpus, 2 memberships, the layer, 2 member expressions, the archive's document (a
    # parent) and quote (a sub-expression: the cycle), the media record (mediaRef)
    assert closure.records == 9

    db = str(tmp_path / "w.duckdb")
    build_warehouse(str(lake), db)
    rows = run_query(
        db,
        "SELECT m.split, a.label, a.anchor_text, a.anchor_error FROM annotations a "
        "JOIN corpus_members m ON m.expression_uri = a.expression_uri ORDER BY a.label",
    ).to_pylist()
    assert rows == [
        {
            "split": "train",
            "label": "BAD",
            "anchor_text": None,
            "anchor_error": "byteStart inside a UTF-8 character",
        },
        {"split": "train", "label": "CITY", "anchor_text": "東京", "anchor_error": None},
    ]


def test_the_closure_stops_at_its_limits_and_says_so(
    local_pds: LocalPds, world: World, tmp_path: Path
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    shallow = _sync(local_pds, repo, world.corpus, max_depth=1)
    assert {a.did for a in shallow.report.actors} == {world.curator.did, world.writer.did}
    [closure] = shallow.closures
    assert closure.truncated == "max_depth"

    narrow = _sync(local_pds, Repository.init(str(tmp_path / "repo2")), world.corpus, max_actors=2)
    assert len(narrow.report.actors) == 2
    assert narrow.closures[0].truncated == "max_actors"


def test_a_uri_that_is_not_a_corpus_is_refused_before_any_fetch(
    local_pds: LocalPds, world: World, tmp_path: Path
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    not_corpus = world.corpus.replace(CORPUS, EXPR)
    with pytest.raises(ConfigError, match=r"does not name a pub\.layers\.corpus\.corpus record"):
        _sync(local_pds, repo, not_corpus)
    assert repo.head() is None


def test_cli_sync_takes_a_corpus_uri_with_a_handle(local_pds: LocalPds, world: World, tmp_path: Path) -> None:
    env = cli_env(local_pds)
    by_handle = world.corpus.replace(world.curator.did, world.curator.handle)
    repo, lake = str(tmp_path / "repo"), str(tmp_path / "lake")
    db = str(tmp_path / "w.duckdb")
    args = [
        "sync",
        "--corpus",
        by_handle,
        "--repo",
        repo,
        "--lake",
        lake,
        "--max-depth",
        "1",
        "--warehouse",
        db,
    ]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {a["did"] for a in summary["actors"]} == {world.curator.did, world.writer.did}
    [corpus] = summary["corpora"]
    assert corpus["corpus"] == world.corpus
    assert corpus["truncated"] == "max_depth"
    # ... and the warehouse was built over the lake: the curator's memberships are there.
    assert summary["warehouse"]["warehouse"] == db
    members = run_query(db, "SELECT split FROM corpus_members ORDER BY split").to_pylist()
    assert members == [{"split": "test"}, {"split": "train"}]
    none = CliRunner().invoke(main, ["sync", "--repo", repo, "--lake", lake], env=env)
    assert none.exit_code == 2
    assert "--corpus" in none.output


def test_discovery_spreads_over_a_corpus_one_hop_per_refresh(
    local_pds: LocalPds, world: World, tmp_path: Path
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    registered: list[set[str]] = []
    with XrpcClient(allow_private_hosts=True) as client:
        resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
        known: set[str] = set()
        for _ in range(6):
            found = discover(
                client=client,
                resolver=resolver,
                collections=record_types(),
                known=known,
                corpora=[world.corpus, "at://did:plc:nope/app.bsky.feed.post/3k"],
                repository=repo,
            )
            assert len(found.errors) == 1
            assert "does not name a pub.layers.corpus.corpus record" in found.errors[0]
            if not found.found:
                break
            assert set(found.found.values()) == {f"corpus {world.corpus}"}
            known |= set(found.found)
            registered.append(set(found.found))
            # What a refresh of the new partitions does: sync them.
            sync([Target(did) for did in found.found], client=client, resolver=resolver, repository=repo)
    assert registered == [{world.curator.did}, {world.writer.did}, {world.archive.did}, {world.media.did}]
    assert found.corpora[world.corpus].missing == ()


@pytest.fixture
def annotator(world: World, pds_account: Callable[..., Account]) -> Account:
    """A fourth account annotating a corpus expression: nothing in the corpus points at it."""
    account = pds_account("ann")
    [first] = [r for r in world.writer.list_records(EXPR) if r["value"]["text"].startswith("Café")]
    layer = {
        "$type": LAYER,
        "createdAt": WHEN,
        "expression": first["uri"],
        "kind": "span",
        "annotations": [_annotation("FOOD", 0, 5)],  # "Café"
    }
    account.create_record(LAYER, layer)
    return account


def _labels(lake: Path, tmp_path: Path) -> list[dict[str, object]]:
    db = str(tmp_path / "labels.duckdb")
    build_warehouse(str(lake), db)
    rows: list[dict[str, object]] = run_query(
        db,
        "SELECT m.split, a.label, a.anchor_text, a.did FROM annotations a "
        "JOIN corpus_members m ON m.expression_uri = a.expression_uri ORDER BY a.label",
    ).to_pylist()
    return rows


def test_an_appview_finds_layers_nothing_points_at(
    local_pds: LocalPds, world: World, annotator: Account, tmp_path: Path
) -> None:
    r0 = Repository.init(str(tmp_path / "r0"))
    without = _sync(local_pds, r0, world.corpus)
    assert annotator.did not in {a.did for a in without.report.actors}

    appview = Appview([world.curator, world.writer, world.archive, world.media, world.bystander, annotator])
    lake = tmp_path / "lake"
    with serve(appview) as url:
        # The discovery sensor's pass over the same repository adds the annotator ...
        with XrpcClient(allow_private_hosts=True) as client:
            resolver = IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)
            found = discover(
                client=client,
                resolver=resolver,
                collections=record_types(),
                known={a.did for a in without.report.actors if a.did},
                corpora=[world.corpus],
                repository=r0,
                appview_url=url,
            )
        assert set(found.found) == {annotator.did}
        # ... and a sync of the corpus with the appview brings its layer into the closure.
        before = appview.calls
        result = _sync(local_pds, Repository.init(str(tmp_path / "r1")), world.corpus, lake, appview=url)
    assert result.ok, result.to_json()
    [closure] = result.closures
    assert annotator.did in closure.actors
    assert world.bystander.did not in closure.actors
    assert "appview" in closure.found_by
    assert result.appview is not None
    assert result.appview.calls == appview.calls - before > 0
    labels = {(row["label"], row["anchor_text"], row["did"]) for row in _labels(lake, tmp_path)}
    assert ("FOOD", "Café", annotator.did) in labels
    assert ("CITY", "東京", world.curator.did) in labels


def test_a_lying_appview_adds_work_but_never_a_record(
    local_pds: LocalPds, world: World, pds_account: Callable[..., Account], tmp_path: Path
) -> None:
    [bystanding] = world.bystander.list_records(EXPR)
    ghost = pds_account("gh")  # an account with no Layers records at all

    def lie(nsid: str, params: dict[str, str], answer: dict[str, Any]) -> dict[str, Any]:
        forged: list[object] = []
        for record in answer["records"]:
            value = dict(record["value"])
            if "split" in value:
                value["split"] = "poisoned"  # other content for a real record
            if "annotations" in value:
                value["annotations"] = [_annotation("FORGED", 0, 1)]
            forged.append({**record, "value": value})
        forged += [
            {
                "uri": bystanding["uri"],
                "cid": bystanding["cid"],
                "value": {"corpusRef": params.get("corpusRef")},
            },
            {"uri": f"at://{ghost.did}/{MEMBER}/3kzzzzzzzzzzz", "cid": bystanding["cid"], "value": {}},
            {"uri": "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/pub.layers.corpus.membership/3k", "value": {}},
            {"uri": "not a uri"},
            "not even an object",
        ]
        return {"records": forged, "cursor": "same"}  # a cursor that never moves: paging must stop

    appview = Appview([world.curator, world.writer, world.archive, world.media], lie)
    lake = tmp_path / "lake"
    with serve(appview) as url:
        result = _sync(local_pds, Repository.init(str(tmp_path / "repo")), world.corpus, lake, appview=url)
    assert result.ok, result.to_json()  # the invented account fails alone and fails nothing else
    [closure] = result.closures
    honest = {world.curator.did, world.writer.did, world.archive.did, world.media.did}
    assert set(closure.actors) == honest
    assert result.appview is not None
    assert {world.bystander.did, ghost.did} <= set(result.appview.actors)  # work added ...
    assert result.appview.ignored > 0
    rows = _labels(lake, tmp_path)
    # ... but every row is what the PDSes hold: no forged split, label or record
    assert {(r["split"], r["label"], r["anchor_text"]) for r in rows} == {
        ("train", "BAD", None),
        ("train", "CITY", "東京"),
    }
