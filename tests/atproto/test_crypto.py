from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import crypto
from lairs_etl.atproto.crypto import Curve
from lairs_etl.errors import IdentityError, SignatureError

DATA = Path(__file__).parent / "data"
# Copied from bluesky-social/atproto packages/crypto/tests/signature-fixtures.json
# (also published in bluesky-social/atproto-interop-tests as crypto/signature-fixtures.json).
FIXTURES: list[dict[str, Any]] = json.loads((DATA / "signature-fixtures.json").read_text())

_ORDERS = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["comment"] for f in FIXTURES])
def test_interop_signature_fixtures(fixture: dict[str, Any]) -> None:
    key = crypto.parse_did_key(fixture["publicKeyDid"])
    method = {"type": fixture["didDocSuite"], "publicKeyMultibase": fixture["publicKeyMultibase"]}
    assert crypto.public_key_from_verification_method(method) == key
    assert key.jwt_alg == fixture["algorithm"]
    assert crypto.did_key(key) == fixture["publicKeyDid"]
    message, sig = _b64(fixture["messageBase64"]), _b64(fixture["signatureBase64"])
    if fixture["validSignature"]:
        crypto.verify_signature(key, message, sig)
    else:
        with pytest.raises(SignatureError):
            crypto.verify_signature(key, message, sig)


# W3C did:key test vectors, as used by bluesky-social/atproto packages/crypto/tests/did.test.ts
K256_VECTORS = [
    (
        "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c",
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
    ),
    (
        "f0f4df55a2b3ff13051ea814a8f24ad00f2e469af73c363ac7e9fb999a9072ed",
        "did:key:zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2",
    ),
    (
        "6b0b91287ae3348f8c2f2552d766f30e3604867e34adc37ccbb74a8e6b893e02",
        "did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N",
    ),
    (
        "c0a6a7c560d37d7ba81ecee9543721ff48fea3e0fb827d42c1868226540fac15",
        "did:key:zQ3shadCps5JLAHcZiuX5YUtWHHL8ysBJqFLWvjZDKAWUBGzy",
    ),
    (
        "175a232d440be1e0788f25488a73d9416c04b6f924bea6354bf05dd2f1a75133",
        "did:key:zQ3shptjE6JwdkeKN4fcpnYQY3m9Cet3NiHdAfpvSUZBFoKBj",
    ),
]


@pytest.mark.parametrize(("seed", "did"), K256_VECTORS)
def test_k256_did_key_vectors(seed: str, did: str) -> None:
    key = crypto.private_key_from_bytes("k256", bytes.fromhex(seed))
    assert crypto.did_key(key.public_key) == did
    assert crypto.parse_did_key(did) == key.public_key
    assert key.to_bytes().hex() == seed


def test_p256_did_key_vector() -> None:
    # The W3C vector gives the private key in base58btc.
    secret = crypto._b58decode("9p4VRzdmhsnq869vQjVCTrRry7u4TtfRxhvBFJTGU2Cp")
    key = crypto.private_key_from_bytes("p256", secret)
    assert crypto.did_key(key.public_key) == "did:key:zDnaeTiq1PdzvZXUaMdezchcMJQpBdH2VN4pgrrEhMCCbmwSb"


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_legacy_uncompressed_verification_methods(curve: Curve) -> None:
    # The local PLC serves EcdsaSecp256*VerificationKey2019 with the bare uncompressed point.
    key = crypto.generate_private_key(curve).public_key
    uncompressed = key._key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    kind = "EcdsaSecp256k1VerificationKey2019" if curve == "k256" else "EcdsaSecp256r1VerificationKey2019"
    method = {"type": kind, "publicKeyMultibase": "z" + crypto._b58encode(uncompressed)}
    assert crypto.public_key_from_verification_method(method) == key
    multikey = {"type": "Multikey", "publicKeyMultibase": crypto.multikey(key)}
    assert crypto.public_key_from_verification_method(multikey) == key
    assert crypto.multikey(key).startswith("zQ3sh" if curve == "k256" else "zDna")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["k256", "p256"]), st.binary(max_size=200))
def test_sign_then_verify_and_only_low_s(curve: Curve, message: bytes) -> None:
    key = crypto.generate_private_key(curve)
    sig = crypto.sign(key, message)
    assert len(sig) == 64
    s = int.from_bytes(sig[32:], "big")
    assert s <= _ORDERS[curve] // 2
    crypto.verify_signature(key.public_key, message, sig)
    high_s = sig[:32] + (_ORDERS[curve] - s).to_bytes(32, "big")  # the same signature, high-S
    with pytest.raises(SignatureError, match="high-S"):
        crypto.verify_signature(key.public_key, message, high_s)
    with pytest.raises(SignatureError):
        crypto.verify_signature(key.public_key, message + b"!", sig)
    with pytest.raises(SignatureError):
        crypto.verify_signature(crypto.generate_private_key(curve).public_key, message, sig)


@pytest.mark.parametrize(
    "sig",
    [b"", bytes(64), b"\x00" * 32 + b"\x01" + bytes(31), b"\xff" * 64, bytes(63)],
    ids=["empty", "zeros", "r zero", "out of range", "short"],
)
def test_malformed_signatures(sig: bytes) -> None:
    key = crypto.generate_private_key("k256").public_key
    with pytest.raises(SignatureError):
        crypto.verify_signature(key, b"data", sig)


@pytest.mark.parametrize(
    "value",
    [
        "did:web:example.com",
        "did:key:",
        "did:key:abc",  # not base58btc multibase
        "did:key:z0OIl",  # characters outside base58
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # ed25519
        "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJw",  # truncated
    ],
)
def test_bad_did_keys(value: str) -> None:
    with pytest.raises(IdentityError):
        crypto.parse_did_key(value)


@pytest.mark.parametrize(
    "method",
    [
        {"type": "Ed25519VerificationKey2020", "publicKeyMultibase": "z6Mk"},
        {"type": "Multikey"},
        {"type": "Multikey", "publicKeyMultibase": 12},
        {"type": "EcdsaSecp256k1VerificationKey2019", "publicKeyMultibase": "z" + "1" * 33},
    ],
)
def test_bad_verification_methods(method: dict[str, object]) -> None:
    with pytest.raises(IdentityError):
        crypto.public_key_from_verification_method(method)


def test_base58_round_trip_with_leading_zeros() -> None:
    for data in (b"\x00", b"\x00\x00\x01", bytes(range(40))):
        assert crypto._b58decode(crypto._b58encode(data)) == data
    assert crypto._b58encode(b"\x00\x00\x01") == "112"
