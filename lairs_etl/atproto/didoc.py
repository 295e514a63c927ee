"""Strict parsing of the atproto parts of a DID document.

A DID document comes from the network (PLC directory or a ``did:web`` host), so it is
treated as hostile: the parser keeps only what atproto uses — the ``alsoKnownAs``
handles, the ``#atproto`` verification method and the ``#atproto_pds`` service — and
refuses anything ambiguous (two ``#atproto`` keys, two PDS services) rather than
picking one. Key bytes are not decoded here: :mod:`lairs_etl.atproto.crypto` takes a
:class:`VerificationMethod`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lairs_etl.atproto import jsoncodec
from lairs_etl.atproto.jsoncodec import JsonValue
from lairs_etl.atproto.netsafety import HostPolicy, check_url
from lairs_etl.atproto.syntax import Did, Handle, is_handle
from lairs_etl.errors import CodecError, DidDocumentError

__all__ = ["KEY_TYPES", "DidDocument", "VerificationMethod", "parse_did_document"]

KEY_TYPES = frozenset({"Multikey", "EcdsaSecp256k1VerificationKey2019", "EcdsaSecp256r1VerificationKey2019"})
"""``Multikey`` is the current form; the ``…VerificationKey2019`` forms are the older
(uncompressed-key) ones, still served by the reference PLC package."""

_PDS_TYPE = "AtprotoPersonalDataServer"
_MAX_DEPTH = 32
"""A DID document's nesting is shallow; anything deeper is not one."""


@dataclass(frozen=True)
class VerificationMethod:
    """The repository signing key as the document states it (``type`` in :data:`KEY_TYPES`)."""

    type: str
    public_key_multibase: str


@dataclass(frozen=True)
class DidDocument:
    """The atproto view of a DID document; ``raw`` is the whole parsed JSON object."""

    did: Did
    also_known_as: tuple[str, ...]
    pds_endpoint: str
    signing_key: VerificationMethod
    raw: Mapping[str, JsonValue] = field(compare=False, repr=False)

    @property
    def handle(self) -> Handle | None:
        """The handle the document claims: its first ``at://`` entry, if a valid handle.

        A claim only; :mod:`lairs_etl.atproto.identity` checks that it points back.
        """
        for entry in self.also_known_as:
            if entry.startswith("at://"):
                return Handle(entry[5:]) if is_handle(entry[5:]) else None
        return None


def _fail(did: Did, why: str) -> DidDocumentError:
    return DidDocumentError(f"untrusted DID document: {why}", actor=did)


def _entries(document: Mapping[str, JsonValue], key: str, did: Did) -> list[dict[str, JsonValue]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _fail(did, f"{key} is not a list of objects")
    return [item for item in value if isinstance(item, dict)]


def _the_one(entries: list[dict[str, JsonValue]], fragment: str, did: Did) -> dict[str, JsonValue]:
    """The single entry whose id is ``#fragment`` or ``<did>#fragment``."""
    matches = [e for e in entries if e.get("id") in (f"#{fragment}", f"{did}#{fragment}")]
    if len(matches) != 1:
        raise _fail(did, f"{len(matches)} entries with id #{fragment} (need exactly one)")
    return matches[0]


def _signing_key(document: Mapping[str, JsonValue], did: Did) -> VerificationMethod:
    method = _the_one(_entries(document, "verificationMethod", did), "atproto", did)
    kind, multibase = method.get("type"), method.get("publicKeyMultibase")
    if kind not in KEY_TYPES or not isinstance(kind, str):
        raise _fail(did, f"unsupported #atproto key type {kind!r:.80}")
    if not isinstance(multibase, str) or not multibase.startswith("z") or not 2 < len(multibase) < 256:
        raise _fail(did, "#atproto publicKeyMultibase is not a base58btc multibase string")
    return VerificationMethod(type=kind, public_key_multibase=multibase)


def _pds_endpoint(document: Mapping[str, JsonValue], did: Did, policy: HostPolicy) -> str:
    service = _the_one(_entries(document, "service", did), "atproto_pds", did)
    endpoint = service.get("serviceEndpoint")
    if service.get("type") != _PDS_TYPE or not isinstance(endpoint, str):
        raise _fail(did, f"#atproto_pds is not an {_PDS_TYPE} with a URL endpoint")
    url = check_url(endpoint, policy=policy)  # UnsafeEndpointError
    if url.query or url.fragment or url.path not in ("", "/"):
        raise _fail(did, f"PDS endpoint {endpoint!r:.200} is not a bare origin")
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


def parse_did_document(
    data: bytes | JsonValue,
    did: Did,
    *,
    policy: HostPolicy | None = None,
) -> DidDocument:
    """Parse and check a DID document fetched for ``did``.

    Args:
        data: the response body, or JSON already decoded.
        did: the DID that was resolved; the document's ``id`` must equal it.
        policy: which non-public PDS endpoints are accepted (default: none; a local
            PDS needs ``allow_private_hosts``).

    Raises:
        DidDocumentError: not JSON (within the decoder's limits), wrong ``id``, or a
            missing/duplicate/malformed ``#atproto`` key or ``#atproto_pds`` service.
        UnsafeEndpointError: the PDS endpoint is not http(s) or points at a host the
            switches do not allow.
    """
    if isinstance(data, bytes):
        try:
            data = jsoncodec.decode(data, max_depth=_MAX_DEPTH)
        except CodecError as exc:
            raise _fail(did, f"not JSON: {exc.message}") from exc
    if not isinstance(data, dict):
        raise _fail(did, "not a JSON object")
    if data.get("id") != did:
        raise _fail(did, f"id {data.get('id')!r:.100} does not match the DID resolved")
    aka = data.get("alsoKnownAs", [])
    if not isinstance(aka, list) or not all(isinstance(a, str) for a in aka):
        raise _fail(did, "alsoKnownAs is not a list of strings")
    return DidDocument(
        did=did,
        also_known_as=tuple(a for a in aka if isinstance(a, str)),
        pds_endpoint=_pds_endpoint(data, did, policy or HostPolicy()),
        signing_key=_signing_key(data, did),
        raw=data,
    )
