"""``lairs-etl repo …`` on a local repository built through the library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.cli import main
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

COLL = "pub.layers.expression.expression"
DID = "did:plc:cli00000000000000000000"


def _rec(n: int, salt: str = "") -> tuple[str, str, Cid, bytes]:
    data = cbor.encode({"$type": COLL, "text": f"{salt}{n}"})
    return COLL, f"3k{n:011d}", cid_for_dag_cbor(data), data


@pytest.fixture
def repo_url(tmp_path: Path) -> str:
    url = str(tmp_path / "repo")
    repo = Repository.init(url)
    prov = Provenance(fetched_at="2026-01-01T00:00:00Z", lexicon_hash="h", pds_rev="3kaaaaaaaaaaa")
    repo.stage(DID, [_rec(n) for n in range(5)], replace=True, provenance=prov)
    repo.commit("first", "tests")
    gone = [(COLL, "3k00000000001")]
    repo.stage(DID, [_rec(0, "x"), _rec(9)], replace=False, deleted=gone, provenance=prov)
    repo.commit("second", "tests")
    return url


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["repo", *args])


def test_log_show_and_tag(repo_url: str) -> None:
    log = json.loads(_run("log", "--repo", repo_url, "--json").stdout)
    assert [e["message"] for e in log] == ["second", "first"]
    first = log[1]["commit"]
    tagged = _run("tag", "v1", first[:16], "--repo", repo_url, "--json")
    assert tagged.exit_code == 0, tagged.output
    assert json.loads(tagged.stdout) == {"tag": "v1", "commit": first}
    shown = json.loads(_run("show", "v1", "--repo", repo_url, "--json").stdout)
    assert shown["commit"] == first
    assert shown["actors"][DID]["pdsRev"] == "3kaaaaaaaaaaa"
    text = _run("log", "--repo", repo_url).stdout
    assert "second" in text.splitlines()[0]
    again = _run("tag", "v1", "main", "--repo", repo_url)
    assert again.exit_code == 1
    assert "RefConflictError" in again.stderr


def test_diff_lists_changes_and_summary(repo_url: str) -> None:
    log = json.loads(_run("log", "--repo", repo_url, "--json").stdout)
    out = json.loads(_run("diff", log[1]["commit"], "main", "--repo", repo_url, "--json").stdout)
    kinds = sorted((c["uri"].rsplit("/", 1)[1], c["kind"]) for c in out["changes"])
    assert kinds == [("3k00000000000", "changed"), ("3k00000000001", "removed"), ("3k00000000009", "added")]
    assert out["summary"][DID][COLL] == {"added": 1, "removed": 1, "changed": 1}
    text = _run("diff", log[1]["commit"], "main", "--repo", repo_url).stdout
    assert f"- at://{DID}/{COLL}/3k00000000001" in text


def test_fsck_and_gc(repo_url: str) -> None:
    fsck = _run("fsck", "--repo", repo_url, "--json")
    assert fsck.exit_code == 0
    assert json.loads(fsck.stdout)["ok"] is True
    gc = json.loads(_run("gc", "--repo", repo_url, "--grace-seconds", "0", "--json").stdout)
    # Only what later commits superseded (the first packset, merged index segments) goes.
    assert gc["deleted"]
    assert not any(key.startswith("packs/") for key in gc["deleted"])
    assert json.loads(_run("fsck", "--repo", repo_url, "--json").stdout)["ok"] is True
    assert len(json.loads(_run("log", "--repo", repo_url, "--json").stdout)) == 2
    pack = next((Path(repo_url) / "packs").iterdir())
    pack.write_bytes(pack.read_bytes()[:-3] + b"zzz")
    damaged = _run("fsck", "--repo", repo_url)
    assert damaged.exit_code == 4
    assert damaged.stdout.startswith("DAMAGED")


def test_a_missing_repository_is_an_error(tmp_path: Path) -> None:
    result = _run("log", "--repo", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "NotFoundError" in result.stderr


def test_stray_files_under_refs_are_reported_and_skipped(repo_url: str) -> None:
    refs = Path(repo_url) / "refs"
    strays = [refs / "heads" / ".DS_Store", refs / "tags" / "v1~", refs / "notes.txt"]
    for path in strays:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00Finder junk")
    fsck = _run("fsck", "--repo", repo_url, "--json")
    assert fsck.exit_code == 0, fsck.output
    report = json.loads(fsck.stdout)
    assert report["ok"] is True
    assert report["strays"] == sorted(str(p.relative_to(repo_url)) for p in strays)
    assert "skipped refs/heads/.DS_Store: not a ref" in _run("fsck", "--repo", repo_url).stdout
    gc = _run("gc", "--repo", repo_url, "--grace-seconds", "0", "--json")
    assert gc.exit_code == 0, gc.output
    assert json.loads(gc.stdout)["strays"] == report["strays"]
    assert all(path.exists() for path in strays)  # reported, never deleted
    log = _run("log", "--repo", repo_url, "--json")
    assert [e["message"] for e in json.loads(log.stdout)] == ["second", "first"]
