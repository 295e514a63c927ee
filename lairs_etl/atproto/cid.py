"""Content identifiers, as atproto uses them: CIDv1, sha2-256, dag-cbor or raw codec.

``Cid`` is cbrrr's CID class with its text form computed in Rust (libipld): the same
objects the DAG-CBOR decoder produces for links, so a decoded node's links need no
conversion on the hot path. cbrrr spells CIDs with the standard library's pure-Python
base32 (11 µs each, 1.5 s of a 100,000-record sync); libipld takes 0.7 µs.
"""

from __future__ import annotations

import binascii
import hashlib

import cbrrr
import libipld

from lairs_etl.errors import BlockHashMismatch, CodecError

__all__ = ["Cid", "cid_for_dag_cbor", "cid_for_raw", "parse_cid", "verify_block"]



class Cid(cbrrr.CID):
    """A binary CID (``cid_bytes``), equal to cbrrr's CID of the same bytes."""

    __slots__ = ()

    @classmethod
    def decode(cls, data: bytes | str) -> Cid:
        """Parse the multibase text form: base32 (``b``…) or identity (a zero byte + binary).

        Raises:
            ValueError: not one of those forms.
        """
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
        if text.startswith("b"):
            base, raw = _decode_multibase(text)
            if base != "b":
                raise ValueError("not a base32 CID")
            return cls(raw)
        return cls(super().decode(data).cid_bytes)

    def encode(self, base: str = "base32") -> str:
        """The multibase text form (``b`` + lower-case base32, no padding)."""
        if base != "base32":
            raise ValueError("unsupported base encoding")
        try:
            return _encode_cid(self.cid_bytes)
        except ValueError:  # not a CID libipld can parse: spell the bytes anyway
            return super().encode()

    def __repr__(self) -> str:
        return f"Cid({self.encode()})"


_encode_cid = libipld.encode_cid
_decode_multibase = libipld.decode_multibase

_DAG_CBOR_PREFIX = b"\x01\x71\x12\x20"
_RAW_PREFIX = b"\x01\x55\x12\x20"


def cid_for_dag_cbor(data: bytes) -> Cid:
    """The CIDv1 (dag-cbor, sha2-256) of an encoded DAG-CBOR block."""
    return Cid(_DAG_CBOR_PREFIX + hashlib.sha256(data).digest())


def cid_for_raw(data: bytes) -> Cid:
    """The CIDv1 (raw, sha2-256) of a blob's bytes."""
    return Cid(_RAW_PREFIX + hashlib.sha256(data).digest())


def parse_cid(value: str | bytes | Cid) -> Cid:
    """Parse a base32 CID string or binary CID, accepting only the atproto forms.

    Strings must be the canonical spelling (``b`` + lower-case base32, no padding), so
    that equal CIDs always compare equal as strings too.

    Raises:
        CodecError: not a CIDv1 sha2-256 CID with the dag-cbor or raw codec.
    """
    if isinstance(value, Cid):
        cid = value
    else:
        try:
            cid = Cid(bytes(value)) if isinstance(value, bytes) else Cid.decode(value)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise CodecError(f"not a CID: {value!r:.120}") from exc
        # base32 decoding forgives upper case and stray low bits; a CID has one spelling
        if isinstance(value, str) and cid.encode() != value:
            raise CodecError(f"not a canonical base32 CID string: {value!r:.120}")
    if not (cid.is_cidv1_dag_cbor_sha256_32() or cid.is_cidv1_raw_sha256_32()):
        raise CodecError(f"unsupported CID form (need CIDv1 sha2-256 dag-cbor/raw): {value!r:.120}")
    return cid


def verify_block(cid: Cid, data: bytes) -> None:
    """Check that ``data`` hashes to ``cid``.

    Raises:
        BlockHashMismatch: the digest differs (or the CID's form is not one we hash).
    """
    raw = bytes(cid)
    if len(raw) != 36 or raw[:4] not in (_DAG_CBOR_PREFIX, _RAW_PREFIX):
        raise BlockHashMismatch(f"unsupported CID form for verification: {cid.encode()}", cid=cid.encode())
    if hashlib.sha256(data).digest() != raw[4:]:
        raise BlockHashMismatch("block bytes do not hash to their CID", cid=cid.encode())
