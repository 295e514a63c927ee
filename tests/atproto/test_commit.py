from __future__ import annotations

from typing import Any

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.commit import Commit, parse_commit, sign_commit, verify_commit
from lairs_etl.atproto.crypto import Curve, generate_private_key, sign
from lairs_etl.atproto.syntax import Did, Tid
from lairs_etl.atproto.tid import next_tid
from lairs_etl.errors import CodecError, SignatureError, VerificationError

DID = Did("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
DATA = cid_for_dag_cbor(b"\xa0")


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_sign_parse_verify(curve: Curve) -> None:
    key = generate_private_key(curve)
    rev = next_tid()
    cid, block = sign_commit(DID, DATA, rev, None, key)
    assert cid == cid_for_dag_cbor(block)
    commit = parse_commit(block)
    assert (commit.did, commit.version, commit.data, commit.rev, commit.prev) == (DID, 3, DATA, rev, None)
    assert isinstance(commit.rev, Tid)
    assert commit.to_bytes() == block
    verify_commit(commit, key.public_key)


def test_signature_covers_the_unsigned_map() -> None:
    # Independently of sign_commit: the spec's signed payload is the commit map without sig.
    key = generate_private_key("k256")
    prev = cid_for_dag_cbor(b"\x80")
    unsigned = {"did": str(DID), "version": 3, "data": DATA, "rev": "3jzfcijpj2z2a", "prev": prev}
    block = cbor.encode({**unsigned, "sig": sign(key, cbor.encode(unsigned))})
    commit = parse_commit(block)
    assert commit.prev == prev
    verify_commit(commit, key.public_key)


def test_wrong_key_or_altered_field_fails_with_the_actor() -> None:
    key = generate_private_key("k256")
    _, block = sign_commit(DID, DATA, next_tid(), None, key)
    commit = parse_commit(block)
    with pytest.raises(SignatureError) as info:
        verify_commit(commit, generate_private_key("k256").public_key)
    assert info.value.actor == DID
    moved = Commit(commit.did, commit.version, cid_for_dag_cbor(b"\x81\x00"), commit.rev, None, commit.sig)
    with pytest.raises(SignatureError):
        verify_commit(moved, key.public_key)


def _fields(**changes: Any) -> bytes:
    value: dict[str, Any] = {
        "did": str(DID),
        "version": 3,
        "data": DATA,
        "rev": "3jzfcijpj2z2a",
        "prev": None,
        "sig": bytes(64),
    }
    for name, new in changes.items():
        if new is _DROP:
            del value[name]
        else:
            value[name] = new
    return cbor.encode(value)


_DROP = object()


@pytest.mark.parametrize(
    "block",
    [
        _fields(prev=_DROP),  # v3 requires prev to be present, even if null
        _fields(sig=_DROP),
        _fields(extra="x"),
        _fields(version=2),
        _fields(version=True),
        _fields(version="3"),
        _fields(data="bafyrei"),
        _fields(data=None),
        _fields(prev="x"),
        _fields(sig="AAAA"),
        _fields(did="not a did"),
        _fields(did=5),
        _fields(rev="not-a-tid"),
        cbor.encode([1, 2]),
        cbor.encode("commit"),
    ],
    ids=[
        "no prev",
        "no sig",
        "extra",
        "v2",
        "bool version",
        "str version",
        "data str",
        "data null",
        "prev str",
        "sig str",
        "bad did",
        "int did",
        "bad rev",
        "list",
        "string",
    ],
)
def test_strict_parsing(block: bytes) -> None:
    with pytest.raises(VerificationError):
        parse_commit(block)


def test_junk_bytes_are_a_codec_error() -> None:
    with pytest.raises(CodecError):
        parse_commit(b"\xa1\x61")


def test_commit_fields_are_typed() -> None:
    commit = parse_commit(_fields())
    assert isinstance(commit.did, Did)
    assert isinstance(commit.data, Cid)


@pytest.mark.pds
def test_a_reference_pds_commit_verifies_against_its_plc_key(local_pds: Any, pds_account: Any) -> None:
    # Interop: a commit signed by @atproto/pds, its key as the local PLC publishes it.
    import httpx

    from lairs_etl.atproto.car import read_car
    from lairs_etl.atproto.crypto import public_key_from_verification_method

    account = pds_account("commit")
    account.create_record(
        "pub.layers.expression.expression",
        {"id": "x", "kind": "document", "createdAt": "2026-01-01T00:00:00.000Z"},
    )
    head = account.latest_commit()
    reader = read_car(account.get_repo(), expected_root=head.cid)
    blocks = dict(reader)
    commit = parse_commit(blocks[head.cid])
    assert commit.did == account.did
    assert commit.rev == head.rev
    assert commit.data in blocks
    doc = httpx.get(f"{local_pds.plc_url}/{account.did}").json()
    method = next(m for m in doc["verificationMethod"] if m["id"].endswith("#atproto"))
    verify_commit(commit, public_key_from_verification_method(method))
    with pytest.raises(SignatureError):
        verify_commit(commit, generate_private_key("k256").public_key)
