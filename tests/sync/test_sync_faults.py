"""Faults in a sync to the lake: a tampered repository lands nowhere; kill -9 loses nothing.

A tampered CAR (a record block that no longer hashes to its CID, or a commit signed by
a key that is not the actor's) comes from a :class:`~tests.hostile.peer.HostilePeer` on
loopback whose repository is altered after it was built; the good actor beside it comes
from the real local PDS. The kill -9 test runs ``lairs-etl sync`` as a child process and
SIGKILLs it at several points of a sync that has work to do (new files under ``packs/``,
the branch moving, the lake being written, fixed delays); after each kill the repository
is whole and the lake readable, and the next sync leaves the lake as a rebuild writes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import lairs_etl.errors as errors
from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import write_car
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.commit import parse_commit, sign_commit
from lairs_etl.atproto.crypto import generate_private_key
from lairs_etl.demo import SeededActor, SeededCorpus, minimal_record, seed_corpus
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Status, Target
from lairs_etl.views import (
    RepositorySource,
    build_warehouse,
    connect_warehouse,
    encode_actor,
    materialize,
    read_manifest,
    sql_name,
)
from tests.hostile.peer import HostilePeer
from tests.sync._helpers import EXPRESSION, LAYER, sync_to_lake
from tests.views.lake import lake_files

pytestmark = [pytest.mark.pds, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(local_pds, actors=1, records_per_type=1, invalid_per_actor=1, prefix="tamper")


def _files(root: Path) -> dict[str, bytes]:
    """The lake as its readers see it (manifest, actor states, current partition files)."""
    return lake_files(str(root))


# -- 1. a tampered CAR ------------------------------------------------------------------------


def _serve_blocks(peer: HostilePeer) -> None:
    """Rebuild the CAR the peer serves from its (altered) head and blocks."""
    sink = io.BytesIO()
    rest = [(cid, block) for cid, block in peer.blocks.items() if cid != peer.head]
    write_car(sink, [peer.head], [(peer.head, peer.blocks[peer.head]), *rest])
    peer.car = sink.getvalue()


def _alter_a_record(peer: HostilePeer) -> None:
    """One record block's bytes replaced (still valid DAG-CBOR), its CID kept."""
    _, value = sorted(peer.records.items())[0]
    cid = cid_for_dag_cbor(cbor.encode_json_form(value))
    assert cid in peer.blocks
    forged = cbor.encode_json_form({**value, "text": "forged by the peer"})
    assert cid_for_dag_cbor(forged) != cid
    peer.blocks[cid] = forged
    _serve_blocks(peer)


def _sign_with_another_key(peer: HostilePeer) -> None:
    """The same commit (same tree, same rev) signed by a key the DID document does not name."""
    commit = parse_commit(peer.blocks.pop(peer.head))
    peer.head, block = sign_commit(peer.did, commit.data, commit.rev, None, generate_private_key("k256"))
    peer.blocks[peer.head] = block
    _serve_blocks(peer)


TAMPERS: dict[str, tuple[Callable[[HostilePeer], None] | None, str | None]] = {
    "untouched": (None, None),  # the control: the same peer, served as built, lands
    "record-bytes": (_alter_a_record, "BlockHashMismatch"),
    "wrong-key": (_sign_with_another_key, "SignatureError"),
}


def _lake_paths_of(lake: Path, did: str) -> list[str]:
    encoded = encode_actor(did)
    return [str(p) for p in lake.rglob("*") if encoded in str(p)]


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_tampered_car_lands_neither_in_the_repository_nor_in_the_lake(
    tamper: str, tmp_path: Path, local_pds: LocalPds, corpus: SeededCorpus
) -> None:
    alter, expected = TAMPERS[tamper]
    good = corpus.actors[0]
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    with HostilePeer("well-behaved") as peer:
        if alter is not None:
            alter(peer)
        report = sync_to_lake(local_pds, repo, lake, [Target(str(peer.did)), Target(good.did)])
        served = list(peer.requests)
    bad_did = str(peer.did)
    assert "/xrpc/com.atproto.sync.getRepo" in served  # the tampered bytes were fetched, not skipped
    outcome, good_outcome = report.actors
    # The good actor is committed, with its lake files, whatever happened beside it.
    assert good_outcome.status == Status.COMMITTED, good_outcome.to_json()
    assert good_outcome.lake_error is None
    assert good_outcome.valid == sum(1 for u in good.uris if u not in good.invalid)
    assert any(c.lake_path for c in good_outcome.collections)
    assert _lake_paths_of(lake, good.did)
    stored = Repository.open(str(tmp_path / "repo")).actors()
    manifest = read_manifest(str(lake))
    assert manifest is not None
    assert good.did in manifest.actor_commits
    if expected is None:  # the control: what the checks below look for does show up
        assert outcome.status == Status.COMMITTED, outcome.to_json()
        assert bad_did in stored
        assert _lake_paths_of(lake, bad_did)
        assert any(s.did == bad_did for s in manifest.stats)
        return
    assert outcome.status == Status.FAILED, outcome.to_json()
    assert outcome.error_type == expected, outcome.to_json()
    found = getattr(errors, outcome.error_type or "", None)
    assert isinstance(found, type)
    assert issubclass(found, errors.VerificationError)
    assert not outcome.verified
    assert not report.ok
    # Nothing of the tampered actor anywhere: not committed, no file, no count.
    assert set(stored) == {good.did}
    assert not list(repo.iter_records(dids=[bad_did]))
    assert _lake_paths_of(lake, bad_did) == []
    assert [s for s in manifest.stats if s.did == bad_did] == []
    assert bad_did not in manifest.actor_commits
    assert [e.key for e in manifest.tables if bad_did in e.partitions] == []


def test_a_tampered_car_leaves_an_earlier_sync_of_the_actor_as_it_was(
    tmp_path: Path, local_pds: LocalPds
) -> None:
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    with HostilePeer("well-behaved") as peer:
        did = str(peer.did)
        first = sync_to_lake(local_pds, repo, lake, [Target(did)])
        assert first.ok, first.to_json()
        state, files = repo.actors()[did], _files(lake)
        manifest = read_manifest(str(lake))
        assert _lake_paths_of(lake, did)
        _alter_a_record(peer)
        # incremental=False: the peer's rev did not move, so only a full fetch reads the CAR again
        again = sync_to_lake(local_pds, repo, lake, [Target(did)], incremental=False)
    (outcome,) = again.actors
    assert outcome.status == Status.FAILED
    assert outcome.error_type == "BlockHashMismatch", outcome.to_json()
    assert Repository.open(str(tmp_path / "repo")).actors()[did] == state
    assert _files(lake) == files  # not one byte of the lake rewritten
    assert read_manifest(str(lake)) == manifest


# -- 2. kill -9 during a sync -----------------------------------------------------------------

_CLI = "import sys; from lairs_etl.cli import main; sys.argv[0] = 'lairs-etl'; main()"

KILL_POINTS: list[tuple[str, float, bool]] = [
    # (what to wait for, how much of it / seconds, also create a record besides the edit)
    ("pack", 1, False),  # the first new file under packs/ (a temp file or the pack)
    ("ref", 1, False),  # the branch moved: committed, the lake (most likely) not written yet
    ("lake", 1, False),  # the first lake file written (a temp file or a partition)
    ("lake", 3, False),  # part-way through the partitions
    ("ref", 1, True),
    ("lake", 4, True),
    ("delay", 0.5, False),
    ("delay", 1.5, False),
    ("delay", 2.0, True),
    ("delay", 2.5, False),
]
"""Where to SIGKILL the child. The edit alone keeps every count (only a record's text
changes), so nothing but the records themselves tells a lagging lake apart."""


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: (mtime_ns, size), temp files included."""
    out: dict[str, tuple[int, int]] = {}
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    stat = entry.stat(follow_symlinks=False)
                    out[entry.path] = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:  # a temp file renamed away under us
                continue
    return out


def _changed(before: dict[str, tuple[int, int]], now: dict[str, tuple[int, int]], *, final: bool) -> int:
    """Files new or rewritten since ``before`` (``final``: under their final names only)."""
    return sum(
        1
        for path, seen in now.items()
        if before.get(path) != seen and not (final and (".tmp-" in path or path.endswith(".lock")))
    )


def _kill_at(proc: subprocess.Popen[bytes], trigger: str, amount: float, repo: Path, lake: Path) -> bool:
    """SIGKILL ``proc`` once ``trigger`` happened; whether it was still running then."""
    if trigger == "delay":
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=amount)
    else:
        watched = {"pack": repo / "packs", "ref": repo / "refs" / "heads", "lake": lake}[trigger]
        before = _tree(watched)
        final = trigger == "ref"  # the branch itself moved, not its lock or temp file
        while proc.poll() is None and _changed(before, _tree(watched), final=final) < amount:
            time.sleep(0.001)
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


def _pds_records(actor: SeededActor) -> dict[str, str]:
    """Every Layers record of the actor on the PDS: URI -> CID."""
    from lairs_etl.records import record_types

    account = actor.account
    assert account is not None
    return {str(r["uri"]): str(r["cid"]) for c in record_types() for r in account.list_records(c)}


def _assert_complete(repo: Repository, head: str, actor: SeededActor, rev: str) -> None:
    """The actor at ``head`` is the PDS's at ``rev``: every record, the rev, the counts."""
    state = repo.actors(head)[actor.did]
    stored = {str(r.uri): r.cid.encode() for r in repo.iter_records(head, dids=[actor.did])}
    assert stored == _pds_records(actor)
    assert state.pds_rev == rev
    assert {s.rev for _, s in state.collections} == {rev}
    assert (state.valid_count or 0) + (state.invalid_count or 0) == len(stored)


def _assert_lake_readable(lake: Path, scratch: Path) -> None:
    parquet = sorted(lake.rglob("*.parquet"))
    assert parquet
    for path in parquet:
        rows = pq.read_table(path).num_rows
        ((counted,),) = duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
        assert counted == rows, path
    manifest = read_manifest(str(lake))
    assert manifest is not None
    scratch.mkdir()
    db = scratch / "warehouse.duckdb"
    build_warehouse(str(lake), str(db))
    with connect_warehouse(str(db)) as con:
        for entry in manifest.tables:
            if entry.rows:
                con.execute(f'SELECT count(*) FROM "{sql_name(entry.key)}"').fetchall()


def test_kill_minus_nine_during_a_sync_leaves_the_old_or_new_head_and_a_readable_lake(
    tmp_path: Path, local_pds: LocalPds
) -> None:
    changing, quiet = seed_corpus(
        local_pds, actors=2, records_per_type=2, invalid_per_actor=1, prefix="kill"
    ).actors
    account = changing.account
    assert account is not None
    repo_dir, lake = tmp_path / "repo", tmp_path / "lake"
    repo = Repository.init(str(repo_dir))
    targets = [Target(changing.did), Target(quiet.did)]
    assert sync_to_lake(local_pds, repo, lake, targets).ok
    quiet_state = repo.actors()[quiet.did]
    valid = {str(u) for u in changing.uris if u not in changing.invalid}
    rkey, expression = next(
        (str(r["uri"]).rsplit("/", 1)[1], r["value"])
        for r in account.list_records(EXPRESSION)
        if r["uri"] in valid
    )
    assert isinstance(expression, dict)
    args = [
        "sync",
        changing.did,
        quiet.did,
        "--repo",
        str(repo_dir),
        "--lake",
        str(lake),
        "--plc-url",
        local_pds.plc_url,
        "--handle-service",
        local_pds.pds_url,
        "--allow-private-hosts",
    ]
    seen: list[str] = []
    for n, (trigger, amount, create) in enumerate(KILL_POINTS):
        old = Repository.open(str(repo_dir)).head()
        assert old is not None
        account.put_record(EXPRESSION, rkey, {**expression, "text": f"edited before kill {n} " + "x" * n})
        if create:
            account.create_record(LAYER, minimal_record(LAYER))
        rev = account.latest_commit().rev
        with (tmp_path / f"child{n}.out").open("wb") as out, (tmp_path / f"child{n}.err").open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], stdout=out, stderr=err)
            killed = _kill_at(proc, trigger, amount, repo_dir, lake)
        if killed:
            assert proc.returncode == -signal.SIGKILL
        else:  # it finished before the kill point: then it must have succeeded
            assert proc.returncode == 0, (tmp_path / f"child{n}.err").read_text()
        # The repository: whole, at the old head or at a new one that holds the actor entirely.
        after = Repository.open(str(repo_dir))
        report = after.fsck()
        assert report.ok, report.problems
        head = after.head()
        assert head is not None
        if head == old:
            landed = "old head"
        else:
            landed = "new head"
            assert after.show(head).commit.parents == (old,)
            _assert_complete(after, head.encode(), changing, rev)
        assert after.actors(head)[quiet.did] == quiet_state
        _assert_lake_readable(lake, tmp_path / f"scratch{n}")
        seen.append(f"{trigger}:{amount}: {'killed' if killed else 'finished'}, {landed}")
        # The next sync finishes the job: the repository and the lake as a rebuild has them.
        again = sync_to_lake(local_pds, after, lake, targets)
        assert again.ok, again.to_json()
        head = after.head()
        assert head is not None
        _assert_complete(after, head.encode(), changing, rev)
        assert after.fsck().ok
        rebuilt_dir = tmp_path / f"rebuilt{n}"
        materialize(RepositorySource(after, head.encode()), str(rebuilt_dir))
        synced, rebuilt = _files(lake), _files(rebuilt_dir)
        mine = encode_actor(changing.did)
        # Partitions the edit changed (the others keep the commit they were written at).
        changed = {f"collection={c}" for c in ((EXPRESSION, LAYER) if create else (EXPRESSION,))}
        partitions = [
            name
            for name in rebuilt
            if mine in name and name.endswith(".parquet") and any(c in name for c in changed)
        ]
        assert len(partitions) >= 2, partitions
        assert [name for name in partitions if synced.get(name) != rebuilt[name]] == [], seen[-1]
        manifest, expected = read_manifest(str(lake)), read_manifest(str(rebuilt_dir))
        assert manifest is not None
        assert expected is not None
        assert [s for s in manifest.stats if s.did == changing.did] == [
            s for s in expected.stats if s.did == changing.did
        ]
        # ... and the lake says so: its partitions of the actor are of the head's tree.
        written_at = manifest.actor_commits[changing.did]
        assert after.actors(written_at)[changing.did].root == after.actors(head)[changing.did].root, seen[-1]
        print(seen[-1], "| temp files left in the lake:", len([p for p in _tree(lake) if ".tmp-" in p]))
    assert any(s.split(": ")[1].startswith("killed") for s in seen), seen
