"""The reference firehose oracle (@atproto/sync's Firehose, verifying) on real PDS frames.

One account's lifecycle is recorded from the real PDS's ``subscribeRepos``; genuine
frames must be accepted, and tampered copies get the verdicts @atproto/sync 0.4.11
actually gives. What it checks per ``#commit`` (``parseCommitAuthenticated`` ->
``verifyProofs`` in @atproto/repo): the CAR's block hashes, ``commit.did == repo``,
the commit signature (compact, low-S only) against the DID's current key, and each
op's claim against the new MST (create/update: the path maps to ``op.cid``; delete:
the path is absent). An op whose claim is not proven is dropped without an error: the
oracle reports such a frame as rejected. It does not look at ``prevData``, ``commit``
(vs the CAR root), ``rev``, ``since``, nor at seq or rev ordering, so those tamperings
and a replay are accepted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.crypto import public_key_from_verification_method
from lairs_etl.localpds import LocalPds, NodeEnv
from tests.atproto.firehose.recording import frame_did, frames_of, join_frame, record_frames, split_frame
from tests.atproto.firehose.reference import FrameVerdict, reference_frame_verdicts, reference_verdicts
from tests.atproto.firehose.tamper import (
    car_blocks,
    flip_record_byte,
    replace_commit_sig,
    set_body_fields,
    set_op,
)

pytestmark = pytest.mark.pds

THING = "app.example.thing"
WHEN = "2026-01-01T00:00:00.000Z"


def _thing(text: str) -> dict[str, str]:
    return {"$type": THING, "text": text, "createdAt": WHEN}


@dataclass(frozen=True)
class Lifecycle:
    """One fresh account's frames, in stream order, and its four write commits."""

    did: str
    frames: list[bytes]
    create_one: bytes
    update_one: bytes
    create_two: bytes
    delete_two: bytes


@pytest.fixture(scope="module")
def lifecycle(local_pds: LocalPds) -> Lifecycle:
    account = local_pds.create_account(f"fh{secrets.token_hex(5)}.test")
    account.create_record(THING, _thing("hello world"), rkey="one")
    account.put_record(THING, "one", _thing("hello again"))
    account.create_record(THING, _thing("second record"), rkey="two")
    account.delete_record(THING, "two")

    def is_final(frame: bytes) -> bool:  # the delete of "two", this account's last frame
        header, body = split_frame(frame)
        ops = body.get("ops") or []
        return (
            header.get("t") == "#commit"
            and body.get("repo") == account.did
            and [(op["action"], op["path"]) for op in ops] == [("delete", f"{THING}/two")]
        )

    frames = record_frames(local_pds.pds_url, timeout=30, until=lambda fs: bool(fs) and is_final(fs[-1]))
    mine = frames_of(frames, account.did)
    writes = [f for f in mine if split_frame(f)[0].get("t") == "#commit" and split_frame(f)[1]["ops"]]
    assert len(writes) == 4, [split_frame(f)[0] for f in mine]
    return Lifecycle(account.did, mine, *writes)


def _body(frame: bytes) -> dict[str, Any]:
    return split_frame(frame)[1]


def _commit_block(frame: bytes) -> dict[str, Any]:
    """The signed commit object (the root block of the frame's CAR)."""
    root, blocks = car_blocks(_body(frame)["blocks"])
    commit: dict[str, Any] = cbor.decode(dict(blocks)[root])
    return commit


def test_lifecycle_frames_are_accepted(lifecycle: Lifecycle, local_pds: LocalPds, node_env: NodeEnv) -> None:
    types = [split_frame(f)[0].get("t") for f in lifecycle.frames]
    # createAccount sequences #identity, #account, the genesis #commit (no ops) and #sync at once
    assert types == ["#identity", "#account", "#commit", "#sync", "#commit", "#commit", "#commit", "#commit"]
    assert all(frame_did(f) == lifecycle.did for f in lifecycle.frames)
    genesis = _body(lifecycle.frames[2])
    assert genesis["ops"] == []
    assert genesis["since"] is None
    assert "prevData" not in genesis
    writes = [lifecycle.create_one, lifecycle.update_one, lifecycle.create_two, lifecycle.delete_two]
    assert all(isinstance(_body(w)["prevData"], Cid) for w in writes)  # the PDS sends prevData
    actions = [op["action"] for w in writes for op in _body(w)["ops"]]
    assert actions == ["create", "update", "create", "delete"]

    verdicts = reference_verdicts(lifecycle.frames, plc_url=local_pds.plc_url, node_env=node_env)

    seqs = [_body(f)["seq"] for f in lifecycle.frames]
    assert sorted(verdicts) == seqs
    got: dict[str, list[str]] = {t: [] for t in types}
    for t, seq in zip(types, seqs, strict=True):
        got[t].append(verdicts[seq][0])
    assert got == {
        "#identity": ["accept"],
        "#account": ["accept"],
        "#sync": ["accept"],  # parseSync only reads the CAR root: no signature check
        # the genesis commit has no ops, and is never verified
        "#commit": ["ignored", "accept", "accept", "accept", "accept"],
    }
    assert "no ops" in verdicts[seqs[2]][1]
    for w in writes:
        assert "signature and proofs verified" in verdicts[_body(w)["seq"]][1]


# --- tampered commits: one oracle run over all cases --------------------------------


def _other_cid(frame: bytes) -> Cid:
    """The MST root (``data``) of this frame's commit: a CID that is neither prevData nor commit."""
    data: Cid = _commit_block(frame)["data"]
    return data


def _sig(frame: bytes) -> bytes:
    sig: bytes = _commit_block(frame)["sig"]
    return sig


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _high_s(sig: bytes) -> bytes:
    """The other valid ECDSA signature (r, n - s) of a low-S secp256k1 signature (the PDS's keys)."""
    s = int.from_bytes(sig[32:], "big")
    assert 0 < s <= _SECP256K1_N // 2, "expected a low-S signature"
    return sig[:32] + (_SECP256K1_N - s).to_bytes(32, "big")


def _cases(lc: Lifecycle) -> dict[str, Callable[[], bytes]]:
    one, upd, two, rm = lc.create_one, lc.update_one, lc.create_two, lc.delete_two
    upd_cid = _body(upd)["ops"][0]["cid"]
    return {
        "genuine": lambda: one,
        # (a) a record block's bytes no longer hash to its CID
        "a: record byte flipped (create)": lambda: flip_record_byte(one),
        "a: record byte flipped (update)": lambda: flip_record_byte(upd),
        # (b) the commit's signature
        "b: sig replaced, commit block rehashed": lambda: replace_commit_sig(one, bytes(range(64))),
        "b: sig of another commit, rehashed": lambda: replace_commit_sig(one, _sig(upd)),
        "b: sig replaced, old commit CID kept": lambda: replace_commit_sig(one, bytes(64), rehash=False),
        "b: sig malleated to high-S, rehashed": lambda: replace_commit_sig(one, _high_s(_sig(one))),
        # (c) prevData is not looked at
        "c: prevData changed": lambda: set_body_fields(upd, prevData=_other_cid(upd)),
        "c: prevData removed": lambda: set_body_fields(upd, prevData=...),
        # (d) op claims are proven against the new MST, and unproven ops are dropped silently
        "d: op cid of another record": lambda: set_op(one, cid=upd_cid),
        "d: create at a path not in the tree": lambda: set_op(one, path=f"{THING}/absent"),
        "d: delete of a path still in the tree": lambda: set_op(rm, path=f"{THING}/one"),
        "d: delete turned into an update": lambda: set_op(rm, action="update", cid=upd_cid),
        # neither the body's commit/rev/since nor the header-vs-CAR root are compared
        "body commit CID changed": lambda: set_body_fields(one, commit=_body(upd)["commit"]),
        "body rev changed": lambda: set_body_fields(one, rev=_body(two)["rev"]),
        "body since changed": lambda: set_body_fields(one, since=_body(rm)["rev"]),
        # (e) an old frame again, after later commits were accepted: no seq/rev ordering
        "e: replay of an old frame": lambda: one,
    }


EXPECTED = {
    "genuine": ("accept", "signature and proofs verified"),
    "a: record byte flipped (create)": ("reject", "Not a valid CID for bytes"),
    "a: record byte flipped (update)": ("reject", "Not a valid CID for bytes"),
    "b: sig replaced, commit block rehashed": ("reject", "Invalid signature on commit"),
    "b: sig of another commit, rehashed": ("reject", "Invalid signature on commit"),
    "b: sig replaced, old commit CID kept": ("reject", "Not a valid CID for bytes"),
    # @atproto/crypto verifies strictly: compact encoding, low-S only
    "b: sig malleated to high-S, rehashed": ("reject", "Invalid signature on commit"),
    "c: prevData changed": ("accept", "signature and proofs verified"),
    "c: prevData removed": ("accept", "signature and proofs verified"),
    "d: op cid of another record": ("reject", "ops not emitted"),
    "d: create at a path not in the tree": ("reject", "ops not emitted"),
    # verifyProofs reads the found record's block, absent from a delete's CAR: it throws
    "d: delete of a path still in the tree": ("reject", "block not found"),
    "d: delete turned into an update": ("reject", "ops not emitted"),
    "body commit CID changed": ("accept", "signature and proofs verified"),
    "body rev changed": ("accept", "signature and proofs verified"),
    "body since changed": ("accept", "signature and proofs verified"),
    "e: replay of an old frame": ("accept", "signature and proofs verified"),
}


@pytest.fixture(scope="module")
def tampered_verdicts(
    lifecycle: Lifecycle, local_pds: LocalPds, node_env: NodeEnv
) -> dict[str, FrameVerdict]:
    cases = _cases(lifecycle)
    names = list(cases)  # the replay is the last case, after every genuine commit
    stream = list(lifecycle.frames) + [cases[name]() for name in names]
    verdicts = reference_frame_verdicts(stream, plc_url=local_pds.plc_url, node_env=node_env)
    genuine = [v.verdict for v in verdicts[: len(lifecycle.frames)]]
    assert genuine == ["accept", "accept", "ignored", "accept", "accept", "accept", "accept", "accept"]
    return dict(zip(names, verdicts[len(lifecycle.frames) :], strict=True))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_tampered_commit(tampered_verdicts: dict[str, FrameVerdict], name: str) -> None:
    verdict, reason_part = EXPECTED[name]
    got = tampered_verdicts[name]
    assert (got.type, got.verdict) == ("#commit", verdict), got
    assert reason_part in got.reason, got


def test_high_s_signature_is_otherwise_valid(lifecycle: Lifecycle, local_pds: LocalPds) -> None:
    """The high-S case is rejected for being high-S, not for being a wrong signature."""
    doc = (
        httpx.get(f"{local_pds.plc_url}/{lifecycle.did}", timeout=10, trust_env=False)
        .raise_for_status()
        .json()
    )
    (method,) = [m for m in doc["verificationMethod"] if m["id"].endswith("#atproto")]
    key = public_key_from_verification_method(method)
    assert key.curve == "k256"
    commit = _commit_block(lifecycle.create_one)
    unsigned = cbor.encode({k: v for k, v in commit.items() if k != "sig"})
    high = _high_s(commit["sig"])
    r, s = int.from_bytes(high[:32], "big"), int.from_bytes(high[32:], "big")
    key._key.verify(encode_dss_signature(r, s), unsigned, ec.ECDSA(hashes.SHA256()))  # no exception


def test_cases_are_all_expected(lifecycle: Lifecycle) -> None:
    assert list(_cases(lifecycle)) == list(EXPECTED)


def test_tampered_frames_differ_from_genuine(lifecycle: Lifecycle) -> None:
    genuine = {lifecycle.create_one, lifecycle.update_one, lifecycle.delete_two}
    for name, make in _cases(lifecycle).items():
        if name not in ("genuine", "e: replay of an old frame"):
            assert make() not in genuine, name


# --- frames the Firehose cannot even decode: the stream goes on ---------------------


def test_broken_frames_are_rejected_and_the_stream_continues(
    lifecycle: Lifecycle, local_pds: LocalPds, node_env: NodeEnv
) -> None:
    header, body = split_frame(lifecycle.create_one)
    stream = [
        lifecycle.create_one,
        b"\xa1\x62op\x01garbage",  # a header, then no CBOR body: Frame.fromBytes throws
        join_frame(header, {**body, "seq": "not a number"}),  # fails the subscribeRepos lexicon
        join_frame({"op": 1, "t": "#info"}, {"name": "OutdatedCursor"}),
        join_frame({"op": -1}, {"error": "FutureCursor", "message": "cursor in the future"}),
        join_frame({"op": 1, "t": "#unknown"}, {"seq": 99}),  # an open union: valid, then ignored
        lifecycle.update_one,
    ]
    verdicts = reference_frame_verdicts(stream, plc_url=local_pds.plc_url, node_env=node_env)
    got = [(v.verdict, v.type, v.seq) for v in verdicts]
    one, update = _body(lifecycle.create_one)["seq"], _body(lifecycle.update_one)["seq"]
    assert got == [
        ("accept", "#commit", one),
        ("reject", None, None),  # the Firehose drops the connection, then resumes after it
        ("reject", "#commit", None),
        ("ignored", "#info", None),
        ("reject", None, None),
        ("ignored", "#unknown", 99),
        ("accept", "#commit", update),
    ]
    assert verdicts[1].reason.startswith("frame: ")
    assert verdicts[2].reason.startswith("lexicon validation: ")
    assert verdicts[4].reason == "frame: Error: cursor in the future [FutureCursor]"


def test_reference_verdicts_refuses_a_repeated_seq(
    lifecycle: Lifecycle, local_pds: LocalPds, node_env: NodeEnv
) -> None:
    with pytest.raises(ValueError, match="occurs twice"):
        reference_verdicts([lifecycle.create_one] * 2, plc_url=local_pds.plc_url, node_env=node_env)
