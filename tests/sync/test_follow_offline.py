"""The follower on a scripted stream (offline): chain, accounts, identities, keys, cursor."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.crypto import generate_private_key, multikey
from lairs_etl.atproto.didoc import VerificationMethod
from lairs_etl.atproto.fetch import FetchedRecord, FetchResult
from lairs_etl.atproto.firehose import CommitEvent, decode_frame, verify_commit_event
from lairs_etl.atproto.firehose.client import Received
from lairs_etl.atproto.mst import EMPTY_ROOT
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import ConfigError, FrameError, TransportError
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.engine import commit_fetched
from lairs_etl.sync.follow import Follower, FollowOptions
from tests.atproto.firehose._producer import Producer, frame

EXPR = "pub.layers.expression.expression"


def _record(text: str) -> dict[str, object]:
    return {"$type": EXPR, "createdAt": "2026-12-07T00:00:00.000Z", "kind": "sentence", "text": text}


@dataclass
class _Identity:
    did: str
    signing_key: VerificationMethod
    pds_url: str = "http://127.0.0.1:9"


@dataclass
class Keys:
    """A resolver serving each producer's current key, counting resolutions."""

    producers: dict[str, Producer]
    resolved: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def resolve(self, did: str) -> _Identity:
        self.resolved.append(did)
        key = self.producers[did].key.public_key
        return _Identity(did, VerificationMethod("Multikey", multikey(key)))

    def forget(self, did: str) -> None:
        self.forgotten.append(did)


@dataclass
class NoNetwork:
    """A client for the re-syncs: every fetch fails (they are reported and owed).

    ``getRepoStatus`` answers as the accounts' own PDS: ``deleted`` for those in it,
    active for the others.
    """

    deleted: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    limits: Any = None

    def query(self, service: str, nsid: str, params: Any = None, **kwargs: object) -> object:
        if nsid == "com.atproto.sync.getRepoStatus":
            did = params["did"]
            self.asked.append(did)
            if did in self.unreachable:
                raise TransportError("offline test")
            gone = did in self.deleted
            return {"did": did, "active": not gone, **({"status": "deleted"} if gone else {})}
        raise TransportError("offline test")

    def download(self, *args: object, **kwargs: object) -> int:
        raise TransportError("offline test")


def _received(data: bytes) -> Received:
    return Received(data, decode_frame(data))


def _setup(tmp_path: Path, *dids: str) -> tuple[Repository, dict[str, Producer], Keys]:
    """Producers whose first commit the repository already holds (as a full sync leaves it)."""
    repo = Repository.init(str(tmp_path / "repo"))
    producers = {did: Producer(did=did) for did in dids}  # type: ignore[arg-type]
    keys = Keys(producers)
    results = []
    for did, producer in producers.items():
        first = producer.commit([(f"{EXPR}/seed{i}", _record(f"seed {i}")) for i in range(5)])
        event = decode_frame(first)
        assert isinstance(event, CommitEvent)
        proven = verify_commit_event(event, producer.key.public_key)
        records = tuple(
            FetchedRecord(AtUri(f"at://{did}/{w.path}"), w.cid, w.block)
            for w in proven.writes
            if w.cid is not None and w.block is not None
        )
        results.append(FetchResult(Did(did), "car", proven.rev, proven.commit, proven.data, records))
    assert commit_fetched(results, repository=repo).ok
    return repo, producers, keys


def test_two_results_of_one_actor_are_refused_before_anything_is_staged(tmp_path: Path) -> None:
    """Each result applies to the state the run started from: two of one actor would clash."""
    did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    repo, _, _ = _setup(tmp_path, did)
    head = repo.head()
    gone = FetchResult(Did(did), "car", None, None, None, ())
    with pytest.raises(ConfigError):
        commit_fetched([gone, gone], repository=repo)
    assert repo.head() == head
    assert not repo.staged
    assert did in repo.actors(repo.head())


def test_a_chain_of_commits_lands_with_the_producers_root(tmp_path: Path) -> None:
    did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    repo, producers, keys = _setup(tmp_path, did)
    producer = producers[did]
    assert repo.actors(repo.head())[did].root == producer.root
    cursors: list[int] = []
    follower = Follower(
        repository=repo, resolver=keys, client=NoNetwork(), checkpoint=lambda seq, owed: cursors.append(seq)
    )  # type: ignore[arg-type]
    frames = [producer.commit([(f"{EXPR}/n{i}", _record(f"n{i}"))]) for i in range(3)]
    frames.append(producer.commit([(f"{EXPR}/seed0", None), (f"{EXPR}/n1", _record("changed"))]))
    for data in frames:
        follower.handle(_received(data))
    assert cursors == []  # nothing landed yet: the cursor waits for the commit
    report = follower.run([])
    assert (report.commits, report.ops, dict(report.rejected)) == (4, 5, {})
    state = repo.actors(repo.head())[did]
    assert state.root == producer.root
    assert state.pds_data == producer.root
    assert state.pds_rev == producer.rev
    assert cursors == [producer.seq]
    texts = {r.uri.rkey: r.value()["text"] for r in repo.iter_records(repo.head(), dids=[did])}  # type: ignore[index]
    assert texts["n1"] == "changed"
    assert "seed0" not in texts


def test_a_deleted_account_is_tombstoned_once_its_pds_confirms_and_identity_drops_the_key(
    tmp_path: Path,
) -> None:
    gone, kept = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", "did:plc:cccccccccccccccccccccccc"
    repo, producers, keys = _setup(tmp_path, gone, kept)
    follower = Follower(repository=repo, resolver=keys, client=NoNetwork({gone}))  # type: ignore[arg-type]
    follower.handle(_received(producers[kept].commit([(f"{EXPR}/x", _record("x"))])))
    assert keys.resolved.count(kept) == 1
    follower.handle(_received(frame("#identity", {"seq": 90, "did": kept, "time": "2026-12-07T00:00:00Z"})))
    follower.handle(_received(producers[kept].commit([(f"{EXPR}/y", _record("y"))])))
    assert keys.resolved.count(kept) == 2  # the key was resolved afresh
    assert keys.forgotten == [kept]
    for did in (gone, kept):  # the relay says both are deleted; only one PDS agrees
        deleted = {
            "seq": 91,
            "did": did,
            "active": False,
            "status": "deleted",
            "time": "2026-12-07T00:00:00Z",
        }
        follower.handle(_received(frame("#account", deleted)))
    report = follower.run([])
    actors = repo.actors(repo.head())
    assert actors[gone].root == EMPTY_ROOT
    assert list(repo.iter_records(repo.head(), dids=[gone])) == []
    assert report.accounts == {gone: "deleted", kept: "active"}
    # The lie about the other one removed nothing: it is fetched again instead (offline here).
    assert actors[kept].root == producers[kept].root
    assert report.owed == [kept]
    assert not report.ok


def test_a_rotated_key_is_met_with_one_fresh_resolution(tmp_path: Path) -> None:
    did = "did:plc:dddddddddddddddddddddddd"
    repo, producers, keys = _setup(tmp_path, did)
    producer = producers[did]
    follower = Follower(repository=repo, resolver=keys, client=NoNetwork())  # type: ignore[arg-type]
    follower.handle(_received(producer.commit([(f"{EXPR}/a", _record("a"))])))
    producer.key = generate_private_key()  # rotated: the follower's cached key is now wrong
    follower.handle(_received(producer.commit([(f"{EXPR}/b", _record("b"))])))
    # An impostor continuing the same tree: refused after one fresh resolution of the key.
    impostor = Producer(did=did, key=generate_private_key(), root=producer.root, rev=producer.rev)  # type: ignore[arg-type]
    impostor.nodes, impostor.records, impostor.seq, impostor.micros = (
        producer.nodes,
        dict(producer.records),
        50,
        producer.micros,
    )
    impostor.__post_init__()
    follower.handle(_received(impostor.commit([(f"{EXPR}/c", _record("forged"))])))
    report = follower.report
    assert report.commits == 2
    assert dict(report.rejected) == {"signature": 1}


def test_unfollowed_actors_are_skipped_and_discovery_fetches_new_ones_first(tmp_path: Path) -> None:
    followed, stranger = "did:plc:eeeeeeeeeeeeeeeeeeeeeeee", "did:plc:ffffffffffffffffffffffff"
    repo, _, keys = _setup(tmp_path, followed)
    newcomer = Producer(did=stranger)  # type: ignore[arg-type]
    keys.producers[stranger] = newcomer
    verdicts: list[str] = []
    quiet = Follower(
        repository=repo, resolver=keys, client=NoNetwork(), observe=lambda s, d, v: verdicts.append(v)
    )  # type: ignore[arg-type]
    quiet.handle(_received(newcomer.commit([(f"{EXPR}/n", _record("n"))])))
    quiet.handle(
        _received(newcomer.commit([("app.bsky.feed.post/p", {"$type": "app.bsky.feed.post", "text": "hi"})]))
    )
    assert verdicts == ["skipped", "skipped"]
    discovering = Follower(
        repository=repo,
        resolver=keys,
        client=NoNetwork(),
        follow=FollowOptions(discover=True),
        observe=lambda s, d, v: verdicts.append(v),
    )  # type: ignore[arg-type]
    discovering.handle(_received(newcomer.commit([(f"{EXPR}/m", _record("m"))])))
    discovering.handle(_received(newcomer.commit([(f"{EXPR}/o", _record("o"))])))
    report = discovering.run([])
    assert verdicts[2:] == ["fetch first", "fetch first"]
    assert report.discovered == [stranger]
    assert report.owed == [stranger]  # handed to the engine's fetch (offline here: it fails, and is owed)
    assert not report.ok


def test_a_frame_that_does_not_decode_is_counted_not_fatal(tmp_path: Path) -> None:
    did = "did:plc:gggggggggggggggggggggggg"
    repo, producers, keys = _setup(tmp_path, did)
    follower = Follower(repository=repo, resolver=keys, client=NoNetwork())  # type: ignore[arg-type]
    follower.handle(Received(b"\x00garbage", FrameError("undecodable frame")))
    follower.handle(_received(producers[did].commit([(f"{EXPR}/z", _record("z"))])))
    report = follower.run([])
    assert dict(report.rejected) == {"malformed": 1}
    assert report.commits == 1
    assert repo.actors(repo.head())[did].root == producers[did].root


def test_sync_and_too_big_frames_send_the_actor_to_a_fetch(tmp_path: Path) -> None:
    did = "did:plc:hhhhhhhhhhhhhhhhhhhhhhhh"
    repo, producers, keys = _setup(tmp_path, did)
    producer = producers[did]
    verdicts: list[str] = []
    follower = Follower(
        repository=repo, resolver=keys, client=NoNetwork(), observe=lambda s, d, v: verdicts.append(v)
    )  # type: ignore[arg-type]
    honest = producer.commit([(f"{EXPR}/big", _record("big"))])
    header, body = cbor.decode_pair(honest)
    follower.handle(_received(cbor.encode(header) + cbor.encode({**body, "tooBig": True})))
    assert verdicts == ["too big"]
    signed = decode_frame(honest)
    assert isinstance(signed, CommitEvent)
    sync_body = {
        "seq": 77,
        "did": did,
        "rev": signed.rev,
        "blocks": signed.blocks,
        "time": "2026-12-07T00:00:00Z",
    }
    follower.handle(_received(frame("#sync", sync_body)))
    report = follower.run([])
    assert report.owed == [did]  # fetched through the engine (offline here: owed)
    assert dict(report.rejected) == {}
    impostor = Producer(did=did)  # type: ignore[arg-type]  # same account, another key
    theirs = decode_frame(impostor.commit([(f"{EXPR}/evil", _record("evil"))]))
    assert isinstance(theirs, CommitEvent)
    forged = {
        "seq": 78,
        "did": did,
        "rev": theirs.rev,
        "blocks": theirs.blocks,
        "time": "2026-12-07T00:00:00Z",
    }
    follower.handle(_received(frame("#sync", forged)))
    assert dict(follower.report.rejected) == {"signature": 1}


def test_a_deletion_that_cannot_be_confirmed_waits_and_removes_nothing(tmp_path: Path) -> None:
    did = "did:plc:iiiiiiiiiiiiiiiiiiiiiiii"
    repo, producers, keys = _setup(tmp_path, did)
    now = [1000.0]
    client = NoNetwork(deleted={did}, unreachable={did})
    follower = Follower(repository=repo, resolver=keys, client=client, clock=lambda: now[0])  # type: ignore[arg-type]
    deleted = {"seq": 5, "did": did, "active": False, "status": "deleted", "time": "2026-12-07T00:00:00Z"}
    follower.handle(_received(frame("#account", deleted)))
    follower.flush()
    follower.flush()  # asked again only after the back-off
    assert client.asked == [did]
    assert follower.report.owed == [did]
    assert repo.actors(repo.head())[did].root == producers[did].root
    client.unreachable.clear()
    now[0] += 31
    follower.flush()
    assert client.asked == [did, did]
    assert list(repo.iter_records(repo.head(), dids=[did])) == []
    assert follower.report.owed == []
