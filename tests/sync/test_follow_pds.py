"""Following the real PDS's firehose: commits land with the PDS's CIDs and root, and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.demo import seed_corpus
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Target
from lairs_etl.views import RepositorySource, encode_actor, materialize
from tests.sync._helpers import EXPRESSION, LAYER, follow_to_lake, head_seq, pds_data, sync_to_lake
from tests.views.lake import lake_files

pytestmark = [pytest.mark.pds, pytest.mark.slow]

WHEN = "2026-01-01T00:00:00.000Z"


def _expression(text: str) -> dict[str, object]:
    return {"$type": EXPRESSION, "createdAt": WHEN, "id": text[:8], "kind": "sentence", "text": text}


def _cids(repo: Repository, did: str) -> dict[str, str]:
    return {str(r.uri): r.cid.encode() for r in repo.iter_records(repo.head(), dids=[did])}


def _pds_cids(account: Account, collections: tuple[str, ...]) -> dict[str, str]:
    return {str(r["uri"]): str(r["cid"]) for c in collections for r in account.list_records(c)}


def test_followed_commits_land_as_the_pds_holds_them_and_resume_from_the_cursor(
    tmp_path: Path, local_pds: LocalPds
) -> None:
    [actor] = seed_corpus(local_pds, actors=1, records_per_type=2, prefix="fh").actors
    account = actor.account
    assert account is not None
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    assert sync_to_lake(local_pds, repo, lake, [Target(actor.did)]).ok
    cursor = head_seq(local_pds)

    created = account.create_record(EXPRESSION, _expression("Created on the stream."))
    [first, second, *_] = account.list_records(LAYER)
    layer_rkey = str(first["uri"]).rsplit("/", 1)[1]
    account.put_record(LAYER, layer_rkey, {**first["value"], "kind": "token-tag"})  # type: ignore[dict-item]
    account.delete_record(LAYER, str(second["uri"]).rsplit("/", 1)[1])
    report = follow_to_lake(local_pds, repo, lake, cursor)

    assert report.ok, report.to_json()
    assert (report.commits, report.ops, report.stale) == (3, 3, 0)
    assert dict(report.rejected) == {}
    assert report.resynced == []
    state = repo.actors(repo.head())[actor.did]
    assert state.root == pds_data(account)  # a Layers-only actor: the PDS's own MST
    assert state.pds_data == state.root
    assert state.pds_rev == account.latest_commit().rev
    everything = tuple(sorted({str(u.collection) for u in actor.uris} | {EXPRESSION}))
    assert _cids(repo, actor.did) == _pds_cids(account, everything)
    assert str(created.uri) in _cids(repo, actor.did)

    # The lake holds what a rebuild of the same commit writes, and what a batch sync writes.
    head = repo.head()
    assert head is not None
    materialize(RepositorySource(repo, head.encode()), str(tmp_path / "rebuilt"))
    followed, rebuilt = lake_files(str(lake)), lake_files(str(tmp_path / "rebuilt"))
    mine = [
        n for n in rebuilt if encode_actor(actor.did) in n and ("collection=" + LAYER in n or EXPRESSION in n)
    ]
    assert mine
    assert [n for n in mine if followed.get(n) != rebuilt[n]] == []
    batch = Repository.init(str(tmp_path / "batch"))
    assert sync_to_lake(local_pds, batch, tmp_path / "batch-lake", [Target(actor.did)]).ok
    assert batch.actors(batch.head())[actor.did].root == state.root

    # Stopped; more writes meanwhile; resumed from the cursor: each applied once.
    account.create_record(EXPRESSION, _expression("Written while nobody listened."))
    account.delete_record(EXPRESSION, created.uri.rkey)
    again = follow_to_lake(local_pds, repo, lake, report.cursor)
    assert again.ok, again.to_json()
    assert (again.commits, again.stale, dict(again.rejected)) == (2, 0, {})
    state = repo.actors(repo.head())[actor.did]
    assert state.root == pds_data(account)
    assert _cids(repo, actor.did) == _pds_cids(account, everything)


def test_the_follow_command_keeps_its_cursor_in_a_file(tmp_path: Path, local_pds: LocalPds) -> None:
    [actor] = seed_corpus(local_pds, actors=1, records_per_type=1, prefix="fhcli").actors
    account = actor.account
    assert account is not None
    repo, lake, cursor_file = tmp_path / "repo", tmp_path / "lake", tmp_path / "cursor.json"
    Repository.init(str(repo))
    assert sync_to_lake(local_pds, Repository.open(str(repo)), lake, [Target(actor.did)]).ok
    cursor_file.write_text(json.dumps({"cursor": head_seq(local_pds)}))
    account.create_record(EXPRESSION, _expression("Seen by the command."))
    env = {"LAIRS_PLC_URL": local_pds.plc_url, "LAIRS_ALLOW_PRIVATE_HOSTS": "1"}
    args = ["follow", "--relay", local_pds.pds_url, "--repo", str(repo), "--lake", str(lake)]
    args += ["--lake-storage-options", '{"auto_mkdir": true}', "--cursor", str(cursor_file), "--for", "3"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["commits"], summary["ops"]) == (1, 1)
    saved = json.loads(cursor_file.read_text())["cursor"]
    assert saved == summary["cursor"] > 0
    state = Repository.open(str(repo)).actors()[actor.did]
    assert state.root == pds_data(account)
