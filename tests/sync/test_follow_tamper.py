"""A tampering relay between the PDS and the follower: each forgery refused and counted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.crypto import generate_private_key, sign
from lairs_etl.demo import seed_corpus
from lairs_etl.localpds import LocalPds, NodeEnv
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Target
from tests.atproto.firehose.recording import frames_of, split_frame
from tests.atproto.firehose.reference import reference_frame_verdicts
from tests.atproto.firehose.tamper import flip_record_byte, replace_commit_sig, set_body_fields, set_op
from tests.sync._helpers import EXPRESSION, follow_to_lake, head_seq, pds_data, sync_to_lake
from tests.sync._relay import TamperingRelay

pytestmark = [pytest.mark.pds, pytest.mark.slow]

WHEN = "2026-01-01T00:00:00.000Z"


def _wrong_signature(frame: bytes) -> bytes:
    """A well-formed signature by another key (the commit block re-hashed to match)."""
    return replace_commit_sig(frame, sign(generate_private_key(), b"not this commit"))


def _forged_prev_data(frame: bytes) -> bytes:
    return set_body_fields(frame, prevData=cid_for_dag_cbor(cbor.encode({"forged": True})))


def _mismatched_op(frame: bytes) -> bytes:
    """The first op claims a path the new tree does not have."""
    path = split_frame(frame)[1]["ops"][0]["path"]
    return set_op(frame, 0, path=path[:-1] + ("a" if path[-1] != "a" else "b"))


TAMPERING: dict[int, Callable[[bytes], bytes]] = {
    2: flip_record_byte,
    3: _wrong_signature,
    4: _forged_prev_data,
    5: _mismatched_op,
}


class Tamper:
    """Tampers with the n-th commit of one actor; replays its first commit after the last."""

    def __init__(self, did: str, last: int) -> None:
        self.did, self.last = did, last
        self.commits = 0
        self.first: bytes | None = None

    def __call__(self, frame: bytes) -> list[bytes]:
        header, body = split_frame(frame)
        if header.get("t") != "#commit" or body.get("repo") != self.did:
            return [frame]
        self.commits += 1
        if self.commits == 1:
            self.first = frame
        change = TAMPERING.get(self.commits)
        if change is not None:
            return [change(frame)]
        if self.commits == self.last and self.first is not None:
            return [frame, self.first]  # a replayed old commit
        return [frame]


def test_a_tampering_relay_is_caught_frame_by_frame(
    tmp_path: Path, local_pds: LocalPds, node_env: NodeEnv
) -> None:
    [actor] = seed_corpus(local_pds, actors=1, records_per_type=1, prefix="tamper").actors
    account = actor.account
    assert account is not None
    repo = Repository.init(str(tmp_path / "repo"))
    lake = tmp_path / "lake"
    assert sync_to_lake(local_pds, repo, lake, [Target(actor.did)]).ok
    cursor = head_seq(local_pds)
    texts = [f"Commit number {n}." for n in range(1, 7)]
    for text in texts:
        account.create_record(
            EXPRESSION, {"$type": EXPRESSION, "createdAt": WHEN, "kind": "sentence", "text": text}
        )

    observed: list[tuple[int | None, str]] = []
    relay = TamperingRelay(local_pds.pds_url, Tamper(actor.did, last=len(texts)))
    with relay.running():
        report = follow_to_lake(
            local_pds,
            repo,
            lake,
            cursor,
            service=relay.url,
            seconds=4.0,
            observe=lambda seq, who, verdict: observed.append((seq, verdict)) if who == actor.did else None,
        )

    assert report.ok, report.to_json()
    assert dict(report.rejected) == {"block hash": 1, "signature": 1, "proof": 2}
    assert report.stale == 1
    assert report.resynced == [actor.did]
    assert [verdict for _, verdict in observed] == [
        "accepted",
        "rejected: block hash",
        "rejected: signature",
        "rejected: proof",
        "rejected: proof",
        "superseded",
        "stale",
    ]
    # Nothing altered was stored: after the re-sync the repository is the PDS's, exactly.
    state = repo.actors(repo.head())[actor.did]
    assert state.root == pds_data(account)
    stored = {
        r.uri: r.value()["text"]
        for r in repo.iter_records(repo.head(), dids=[actor.did], collections=[EXPRESSION])
    }  # type: ignore[index]
    assert set(texts) <= set(stored.values())
    on_pds = {r["uri"]: r["value"]["text"] for r in account.list_records(EXPRESSION)}  # type: ignore[index]
    assert {str(k): v for k, v in stored.items()} == on_pds

    # Differential: the same frames through @atproto/sync's verifying Firehose. It is
    # stateless: it checks signatures, hashes and that each op is in the new tree, but
    # never prevData (nor inversion) nor rev order, so a forged prevData and a replay
    # are the two frames it accepts and we refuse. Every other verdict must agree.
    sent = frames_of(relay.sent, actor.did)
    assert len(sent) == len(observed)
    reference = reference_frame_verdicts(sent, plc_url=local_pds.plc_url, node_env=node_env)
    ours = [
        "reject" if verdict.startswith("rejected") or verdict == "stale" else "accept"
        for _, verdict in observed
    ]
    theirs = [v.verdict for v in reference]
    differing = [(i, observed[i][1]) for i in range(len(sent)) if ours[i] != theirs[i]]
    assert differing == [(3, "rejected: proof"), (6, "stale")], (observed, reference)
