"""Blobs go up before the records that use them: each once, by CID, checked.

The PDS's ``listBlobs`` says which blobs it holds already; only the others are read
from the caller's blob source, checked against their CID and size cap, and uploaded.
The PDS's answer must name the same CID, or the record would point at nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from lairs_etl.atproto.cid import Cid, cid_for_raw, parse_cid
from lairs_etl.atproto.xrpc import JsonValue, XrpcClient
from lairs_etl.errors import CodecError, ConfigError, PublishError
from lairs_etl.publish.plan import Write
from lairs_etl.publish.session import Session
from lairs_etl.records.references import blob_refs

__all__ = ["BlobSource", "MAX_BLOB_BYTES", "blobs_needed", "present_blobs", "upload_blobs"]

MAX_BLOB_BYTES = 5 * 1024 * 1024
"""The reference PDS's ``blobUploadLimit`` (413 past it)."""

BlobSource = Callable[[Cid], bytes]
"""Returns a blob's bytes by CID; raises ``KeyError`` for a blob it does not hold."""


def blobs_needed(writes: Iterable[Write]) -> dict[Cid, str]:
    """The blobs the creates and updates reference: CID → MIME type."""
    needed: dict[Cid, str] = {}
    for write in writes:
        if write.action != "delete" and write.value is not None:
            needed.update(blob_refs(write.value))
    return needed


def present_blobs(client: XrpcClient, pds_url: str, did: str) -> set[Cid]:
    """The CIDs of the blobs the PDS holds for ``did`` (``com.atproto.sync.listBlobs``).

    Raises:
        TransportError: the PDS could not be read.
    """
    found: set[Cid] = set()
    cursor: str | None = None
    while True:
        page = client.query(
            pds_url, "com.atproto.sync.listBlobs", {"did": did, "limit": 1000, "cursor": cursor}
        )
        cids = page.get("cids") if isinstance(page, dict) else None
        for value in cids if isinstance(cids, list) else []:
            try:
                found.add(parse_cid(str(value)))
            except CodecError:
                continue
        next_cursor = page.get("cursor") if isinstance(page, dict) else None
        if not isinstance(next_cursor, str) or not cids:
            return found
        cursor = next_cursor


def upload_blobs(
    session: Session,
    needed: Mapping[Cid, str],
    present: set[Cid],
    source: BlobSource | None,
    *,
    max_bytes: int = MAX_BLOB_BYTES,
) -> list[Cid]:
    """Upload every needed blob the PDS lacks; returns the CIDs uploaded.

    Raises:
        ConfigError: no source for a missing blob, bytes that do not hash to the CID,
            or a blob over ``max_bytes``.
        PublishError: the PDS stored the blob under another CID.
        TransportError: the upload failed.
    """
    missing = [cid for cid in needed if cid not in present]
    if missing and source is None:
        raise ConfigError(
            f"{len(missing)} blob(s) missing on the PDS and no blob source given", cid=missing[0].encode()
        )
    uploaded: list[Cid] = []
    for cid in missing:
        assert source is not None
        try:
            data = source(cid)
        except KeyError:
            raise ConfigError(
                "the blob source does not hold a blob a record uses", cid=cid.encode()
            ) from None
        if cid_for_raw(data) != cid:
            raise ConfigError("blob bytes do not hash to the CID the record names", cid=cid.encode())
        if len(data) > max_bytes:
            raise ConfigError(
                f"blob of {len(data)} bytes exceeds the {max_bytes}-byte upload limit", cid=cid.encode()
            )
        answer = _post_bytes(
            session, "com.atproto.repo.uploadBlob", data, needed[cid] or "application/octet-stream"
        )
        blob = answer.get("blob") if isinstance(answer, dict) else None
        ref = blob.get("ref") if isinstance(blob, dict) else None
        link = ref.get("$link") if isinstance(ref, dict) else None
        if link != cid.encode():
            raise PublishError(f"the PDS stored blob {cid.encode()} as {link}", actor=session.did)
        uploaded.append(cid)
        present.add(cid)
    return uploaded


def _post_bytes(session: Session, nsid: str, data: bytes, content_type: str) -> JsonValue:
    # Content-addressed: uploading the same bytes twice is harmless, so retries are safe.
    return session.client.procedure_bytes(
        session.pds_url, nsid, data, content_type, session.auth_headers(), idempotent=True
    )
