"""atproto signing keys: K-256 and P-256 ECDSA with SHA-256, compact low-S signatures.

Public keys arrive three ways, all parsed here into one :class:`PublicKey`:

* ``did:key:z…`` strings (PLC operations, ``did_key(...)``): base58btc of a multicodec
  prefix (secp256k1-pub ``0xe7`` → ``zQ3sh…``, p256-pub ``0x1200`` → ``zDna…``) and
  the compressed point;
* DID-document ``Multikey`` verification methods: the same ``publicKeyMultibase``;
* the older ``EcdsaSecp256k1VerificationKey2019`` / ``EcdsaSecp256r1VerificationKey2019``
  methods (the local PLC still serves them): base58btc of the bare point, compressed
  or uncompressed, the curve given by the method type.

Signatures are the 64-byte ``r || s`` form over SHA-256 of the data, and atproto
requires the low-S form (``s <= n/2``): the other half of each signature pair is
refused, as are DER encodings. The ``cryptography`` package does the curve work; its
types and exceptions stay inside this module. Malformed key material raises
:class:`~lairs_etl.errors.IdentityError` (the identity cannot be trusted); a
signature that does not check out raises :class:`~lairs_etl.errors.SignatureError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import coincurve
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lairs_etl.errors import IdentityError, SignatureError

__all__ = [
    "Curve",
    "PrivateKey",
    "PublicKey",
    "did_key",
    "generate_private_key",
    "multikey",
    "parse_did_key",
    "private_key_from_bytes",
    "public_key_from_multikey",
    "public_key_from_verification_method",
    "sign",
    "verify_signature",
]

Curve = Literal["k256", "p256"]

_CURVES: dict[Curve, ec.EllipticCurve] = {"k256": ec.SECP256K1(), "p256": ec.SECP256R1()}
_ORDERS: dict[Curve, int] = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
_MULTICODEC: dict[Curve, bytes] = {"k256": b"\xe7\x01", "p256": b"\x80\x24"}
_LEGACY_TYPES: dict[str, Curve] = {
    "EcdsaSecp256k1VerificationKey2019": "k256",
    "EcdsaSecp256r1VerificationKey2019": "p256",
}
_ECDSA = ec.ECDSA(hashes.SHA256())
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(_B58)}


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its curve and its 33-byte compressed point."""

    curve: Curve
    compressed: bytes
    _key: ec.EllipticCurvePublicKey = field(repr=False, compare=False)

    @property
    def jwt_alg(self) -> str:
        """The JWT algorithm name atproto uses for this curve (``ES256K`` or ``ES256``)."""
        return "ES256K" if self.curve == "k256" else "ES256"


@dataclass(frozen=True)
class PrivateKey:
    """A signing key (for tests and for building repositories locally)."""

    curve: Curve
    _key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def public_key(self) -> PublicKey:
        """The matching verification key."""
        return _wrap_public(self.curve, self._key.public_key())

    def to_bytes(self) -> bytes:
        """The 32-byte secret scalar, big-endian."""
        return self._key.private_numbers().private_value.to_bytes(32, "big")


def _wrap_public(curve: Curve, key: ec.EllipticCurvePublicKey) -> PublicKey:
    return PublicKey(curve, key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint), key)


def _load_point(curve: Curve, point: bytes) -> PublicKey:
    if len(point) not in (33, 65):
        raise IdentityError(f"{curve} public key must be 33 or 65 bytes, got {len(point)}")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[curve], point)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise IdentityError(f"not a point on {curve}") from exc
    return _wrap_public(curve, key)


def public_key_from_multikey(value: str) -> PublicKey:
    """Parse a ``Multikey`` ``publicKeyMultibase`` (``z`` + base58btc, multicodec-prefixed).

    Raises:
        IdentityError: not base58btc multibase, unknown key type, or not a curve point.
    """
    raw = _multibase_decode(value)
    for curve, prefix in _MULTICODEC.items():
        if raw.startswith(prefix):
            return _load_point(curve, raw[len(prefix) :])
    raise IdentityError(f"unsupported multikey type (prefix {raw[:2].hex()})")


def parse_did_key(value: str) -> PublicKey:
    """Parse a ``did:key:z…`` string (K-256 or P-256).

    Raises:
        IdentityError: not a ``did:key`` of a supported curve.
    """
    if not value.startswith("did:key:"):
        raise IdentityError(f"not a did:key: {value:.80}")
    return public_key_from_multikey(value.removeprefix("did:key:"))


def public_key_from_verification_method(method: Mapping[str, object]) -> PublicKey:
    """Parse a DID-document verification method (``type`` and ``publicKeyMultibase``).

    Raises:
        IdentityError: unsupported method type or malformed key.
    """
    kind, encoded = method.get("type"), method.get("publicKeyMultibase")
    if not isinstance(encoded, str):
        raise IdentityError("verification method has no publicKeyMultibase string")
    if kind == "Multikey":
        return public_key_from_multikey(encoded)
    if isinstance(kind, str) and kind in _LEGACY_TYPES:
        return _load_point(_LEGACY_TYPES[kind], _multibase_decode(encoded))
    raise IdentityError(f"unsupported verification method type: {kind!r:.80}")


def multikey(key: PublicKey) -> str:
    """The ``publicKeyMultibase`` of ``key`` in the ``Multikey`` form."""
    return "z" + _b58encode(_MULTICODEC[key.curve] + key.compressed)


def did_key(key: PublicKey) -> str:
    """The ``did:key`` of ``key`` (compressed point, as atproto writes it)."""
    return "did:key:" + multikey(key)


def verify_signature(key: PublicKey, data: bytes, sig: bytes) -> None:
    """Check a compact low-S ECDSA signature over SHA-256 of ``data``.

    Raises:
        SignatureError: wrong length (e.g. DER), out-of-range or high-S scalars, or not
            made by ``key`` over ``data``.
    """
    if len(sig) != 64:
        raise SignatureError(f"signature must be 64 bytes (compact r||s), got {len(sig)}")
    order = _ORDERS[key.curve]
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < order and 0 < s < order):
        raise SignatureError("signature scalars out of range")
    if s > order // 2:
        raise SignatureError("high-S signature (atproto requires the low-S form)")
    der = encode_dss_signature(r, s)
    if key.curve == "k256":
        # libsecp256k1 (coincurve) checks a k256 signature ten times faster than
        # OpenSSL through cryptography: a firehose consumer checks one per commit.
        if not _secp256k1(key.compressed).verify(der, data):
            raise SignatureError("signature does not verify against the key")
        return
    try:
        key._key.verify(der, data, _ECDSA)
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify against the key") from exc


@functools.lru_cache(maxsize=4096)
def _secp256k1(compressed: bytes) -> coincurve.PublicKey:
    """The libsecp256k1 form of a k256 key (parsing costs as much as a check: cached)."""
    return coincurve.PublicKey(compressed)


def generate_private_key(curve: Curve = "k256") -> PrivateKey:
    """A fresh random signing key."""
    return PrivateKey(curve, ec.generate_private_key(_CURVES[curve]))


def private_key_from_bytes(curve: Curve, secret: bytes) -> PrivateKey:
    """A signing key from its 32-byte secret scalar (deterministic test keys).

    Raises:
        IdentityError: the scalar is not a valid key for ``curve``.
    """
    value = int.from_bytes(secret, "big")
    if len(secret) != 32 or not 0 < value < _ORDERS[curve]:
        raise IdentityError(f"not a {curve} secret key")
    return PrivateKey(curve, ec.derive_private_key(value, _CURVES[curve]))


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign SHA-256 of ``data``; returns 64-byte compact ``r || s``, normalized to low-S."""
    r, s = decode_dss_signature(key._key.sign(data, _ECDSA))
    order = _ORDERS[key.curve]
    if s > order // 2:
        s = order - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _multibase_decode(value: str) -> bytes:
    if not value.startswith("z"):
        raise IdentityError(f"only base58btc ('z') multibase keys are supported: {value:.80}")
    return _b58decode(value[1:])


def _b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_B58[rem])
    return "1" * zeros + "".join(reversed(digits))


def _b58decode(text: str) -> bytes:
    if not text:
        raise IdentityError("empty base58btc string")
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise IdentityError(f"invalid base58btc character {char!r}")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
