"""Eight processes commit different actors to one branch through the facade: all land.

Each process commits its own actor (a per-partition update) several times. A commit
that loses the ref race is rebuilt on the new head by ``Repository.commit`` itself, so
the ledger is: every ``ok`` commit is in the final history, every ``conflict`` (retries
exhausted) is not, and the final head holds every actor's last records.

Run as ``python -m tests.repo.test_repository_concurrency URL OPTIONS NAME COMMITS``
to be one writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.errors import RefConflictError
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 8
COMMITS = 3
RECORDS = 20
COLL = "pub.layers.expression.expression"


def _records(name: str, n: int) -> list[tuple[str, str, Cid, bytes]]:
    out = []
    for i in range(RECORDS):
        data = cbor.encode({"$type": COLL, "text": f"{name} {n} {i}"})
        out.append((COLL, f"3k{i:011d}", cid_for_dag_cbor(data), data))
    return out


def _writer(url: str, options: dict[str, object], name: str, commits: int) -> None:
    repo = Repository.open(url, options)
    did = f"did:plc:{name}"
    for n in range(commits):
        repo.stage(did, _records(name, n), replace=True,
                   provenance=Provenance(fetched_at=f"2026-01-01T00:00:0{n}Z", lexicon_hash="h"))
        try:
            cid = repo.commit(f"{name} {n}", name)
        except RefConflictError:
            repo.discard()
            print("conflict", n, flush=True)
            continue
        print("ok", cid.encode(), flush=True)


def _run(url: str, options: dict[str, object]) -> None:
    repo = Repository.init(url, options)
    repo.stage("did:plc:initial", _records("initial", 0), replace=True)
    initial = repo.commit("initial", "tests")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.repo.test_repository_concurrency", url, json.dumps(options),
             f"w{n}", str(COMMITS)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for n in range(WRITERS)
    ]
    ok: list[str] = []
    conflicts = 0
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        for line in out.splitlines():
            status, value = line.split()
            if status == "ok":
                ok.append(value)
            else:
                conflicts += 1
    history = [e.cid.encode() for e in repo.log()]
    assert set(ok) <= set(history)
    assert sorted(history) == sorted([*ok, initial.encode()])  # nothing else, nothing lost
    assert len(ok) + conflicts == WRITERS * COMMITS
    assert conflicts == 0  # retries absorb the races of eight writers
    actors = repo.actors()
    assert set(actors) == {"did:plc:initial"} | {f"did:plc:w{n}" for n in range(WRITERS)}
    for n in range(WRITERS):
        got = [r.block for r in repo.read_collection("main", f"did:plc:w{n}", COLL)]
        assert got == [b for *_, b in _records(f"w{n}", COMMITS - 1)]
    report = repo.fsck()
    assert report.ok, report.problems


@pytest.mark.slow
def test_eight_processes_commit_actors_to_one_local_branch(tmp_path: Path) -> None:
    _run(str(tmp_path / "repo"), {})


@pytest.mark.slow
@pytest.mark.s3
def test_eight_processes_commit_actors_to_one_s3_branch(s3_bucket: tuple[str, dict[str, object]]) -> None:
    url, options = s3_bucket
    _run(f"{url}/repo", options)


if __name__ == "__main__":
    _writer(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
