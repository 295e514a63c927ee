"""Checks the verified modes share: the signed commit, and turning MST leaves into records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.commit import Commit, parse_commit, verify_commit
from lairs_etl.atproto.crypto import PublicKey, public_key_from_verification_method
from lairs_etl.atproto.didoc import VerificationMethod
from lairs_etl.atproto.fetch.model import FetchedRecord
from lairs_etl.atproto.fetch.protocols import IdentityLike
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import CarFormatError, CodecError, MstStructureError, SignatureError, VerificationError

__all__ = ["records_from_leaves", "verified_commit"]


def verified_commit(identity: IdentityLike, cid: Cid, block: bytes | None) -> Commit:
    """Parse the commit block and check it is the actor's and signed by the actor's key.

    Raises:
        CarFormatError: the block is missing or is not a commit.
        SignatureError: the commit names another DID or its signature does not verify
            against the DID document's ``#atproto`` key.
    """
    did = str(identity.did)
    if block is None:
        raise CarFormatError("the commit block is missing", actor=did, cid=cid.encode())
    try:
        commit = parse_commit(block)
    except (CodecError, VerificationError) as exc:
        raise CarFormatError(
            f"the root block is not a commit: {exc.message}", actor=did, cid=cid.encode()
        ) from exc
    if str(commit.did) != did:
        raise SignatureError(f"the commit belongs to {commit.did}", actor=did, cid=cid.encode())
    try:
        verify_commit(commit, _public_key(identity, did))
    except SignatureError as exc:
        exc.actor = exc.actor or did
        exc.cid = exc.cid or cid.encode()
        raise
    return commit


def _public_key(identity: IdentityLike, did: str) -> PublicKey:
    """The actor's signing key, from a parsed key or the DID document's verification method."""
    key = identity.signing_key
    if isinstance(key, PublicKey):
        return key
    if isinstance(key, VerificationMethod):
        return public_key_from_verification_method(
            {"type": key.type, "publicKeyMultibase": key.public_key_multibase}
        )
    raise SignatureError("the DID document names no usable #atproto signing key", actor=did)


def records_from_leaves(
    did: Did,
    leaves: Iterable[tuple[str, Cid]],
    blocks: Mapping[Cid, bytes],
    *,
    checked: Mapping[bytes, bytes] | None = None,
    prebuilt: Mapping[str, FetchedRecord] | None = None,
) -> tuple[FetchedRecord, ...]:
    """The record of every leaf, in key order, its block checked to decode.

    ``blocks`` were hash-checked when they arrived; a leaf whose block is absent means
    the server withheld part of the repository. ``checked`` holds blocks already found
    to decode while downloading, by binary CID (hash-checked too), not decoded again.
    ``prebuilt`` holds records prepared from those blocks and the entries of nodes
    decoded during the download, by key; one is used only for a leaf with the same key
    and CID (:mod:`._prebuild`).

    Raises:
        CarFormatError: a record block is missing or not valid DAG-CBOR.
        MstStructureError: a leaf key is not a valid record path.
    """
    records = []
    actor = str(did)
    decode = cbor.decode_json_form
    known = checked or {}
    ready = prebuilt or {}
    for key, cid in leaves:
        record = ready.get(key)
        if record is not None and (record.cid is cid or record.cid == cid):
            records.append(record)
            continue
        try:
            uri = AtUri.for_path(actor, key)  # DID and NSID parses are memoized
        except ValueError as exc:
            raise MstStructureError(f"MST key {key!r} is not a record path", actor=actor) from exc
        hit = known.get(cid.cid_bytes)
        if hit is not None:
            block = hit  # checked while downloading
        else:
            found = blocks.get(cid)
            if found is None:
                raise CarFormatError(f"the record block of {key} is missing", actor=actor, cid=cid.encode())
            block = found
            try:
                decode(block)  # checked here, decoded again by whoever reads the value
            except CodecError as exc:
                # The tree commits to these bytes, so the actor signed something that is not
                # a record: untrustworthy data, not unusable input.
                raise CarFormatError(
                    f"the record block of {key} is not valid DAG-CBOR: {exc.message}",
                    actor=actor,
                    uri=str(uri),
                    cid=cid.encode(),
                ) from exc
        records.append(FetchedRecord(uri=uri, cid=cid, block=block))
    return tuple(records)
