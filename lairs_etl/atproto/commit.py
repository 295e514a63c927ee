"""Signed repository commits (atproto repository format version 3).

A commit block is DAG-CBOR ``{did, version: 3, data, rev, prev, sig}``: ``data`` links
the MST root, ``rev`` is a TID that grows with every commit, ``prev`` must be present
and is virtually always null, and ``sig`` signs the DAG-CBOR encoding of the same map
without ``sig``. Parsing is strict (exactly these fields, these types) because a
commit is the root of trust for everything fetched under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.crypto import PrivateKey, PublicKey, sign, verify_signature
from lairs_etl.atproto.syntax import Did, Tid
from lairs_etl.errors import InvalidIdentifier, SignatureError, VerificationError

__all__ = ["COMMIT_VERSION", "Commit", "parse_commit", "sign_commit", "verify_commit"]

COMMIT_VERSION = 3
_FIELDS = frozenset(("did", "version", "data", "rev", "prev", "sig"))


@dataclass(frozen=True)
class Commit:
    """A parsed commit; ``unsigned_bytes()`` is what ``sig`` signs."""

    did: Did
    version: int
    data: Cid
    rev: Tid
    prev: Cid | None
    sig: bytes

    def unsigned_bytes(self) -> bytes:
        """The DAG-CBOR encoding of the commit without ``sig`` (the signed payload)."""
        return cbor.encode(_unsigned(self.did, self.data, self.rev, self.prev))

    def to_bytes(self) -> bytes:
        """The commit block, as stored in a repository."""
        return cbor.encode({**_unsigned(self.did, self.data, self.rev, self.prev), "sig": self.sig})


def _unsigned(did: str, data: Cid, rev: str, prev: Cid | None) -> dict[str, Any]:
    return {"did": str(did), "version": COMMIT_VERSION, "data": data, "rev": str(rev), "prev": prev}


def parse_commit(block: bytes) -> Commit:
    """Parse a commit block strictly.

    Raises:
        CodecError: not canonical DAG-CBOR.
        VerificationError: not a version-3 commit (missing, extra or mistyped fields,
            invalid DID or rev).
    """
    value = cbor.decode(block)
    if not isinstance(value, dict) or value.keys() != _FIELDS:
        shown = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise VerificationError(f"not a repository commit (fields {shown})")
    did, version, data, rev = value["did"], value["version"], value["data"], value["rev"]
    prev, sig = value["prev"], value["sig"]
    if type(version) is not int or version != COMMIT_VERSION:
        raise VerificationError(f"unsupported commit version {version!r} (need {COMMIT_VERSION})")
    if not isinstance(data, Cid) or not (prev is None or isinstance(prev, Cid)):
        raise VerificationError("commit data/prev must be CID links")
    if not isinstance(sig, bytes) or not isinstance(did, str) or not isinstance(rev, str):
        raise VerificationError("commit did/rev must be strings and sig bytes")
    try:
        return Commit(Did(did), version, data, Tid(rev), prev, sig)
    except InvalidIdentifier as exc:
        raise VerificationError(f"commit has an invalid {exc.kind}: {exc.value!r:.80}", actor=did) from exc


def verify_commit(commit: Commit, key: PublicKey) -> None:
    """Check that ``commit`` was signed by ``key``.

    Raises:
        SignatureError: the signature is malformed, high-S, or not by ``key``
            (``actor`` is the commit's DID).
    """
    try:
        verify_signature(key, commit.unsigned_bytes(), commit.sig)
    except SignatureError as exc:
        raise SignatureError(f"commit {commit.rev}: {exc.message}", actor=commit.did) from exc


def sign_commit(did: Did, data: Cid, rev: Tid, prev: Cid | None, key: PrivateKey) -> tuple[Cid, bytes]:
    """Build and sign a commit; returns its CID and block bytes."""
    unsigned = _unsigned(did, data, rev, prev)
    block = cbor.encode({**unsigned, "sig": sign(key, cbor.encode(unsigned))})
    return cid_for_dag_cbor(block), block
