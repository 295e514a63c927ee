"""Media blobs beside the repository: content-addressed, verified before they are kept.

::

    blobs/<cid>        the blob's bytes; <cid> is its CIDv1 (raw codec, sha2-256)

A blob is stored once whoever references it (the key is its content's hash), only after
its bytes were hashed and matched the CID the records name, and read back by streaming:
nothing here holds a blob in memory. ``fsck`` re-hashes every stored blob; ``gc``
deletes those no live commit's records reference any more (:meth:`Repository.gc`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.errors import BlockHashMismatch, CodecError
from lairs_etl.repo.storage import ObjectInfo, Storage

__all__ = ["BLOBS", "BlobStore", "blob_key", "hash_file"]

BLOBS = "blobs"
_CHUNK = 1 << 20
_RAW_SHA256 = b"\x01\x55\x12\x20"


def blob_key(cid: Cid) -> str:
    """Where the blob ``cid`` is kept (a CID's base32 text is safe in any object key)."""
    return f"{BLOBS}/{cid.encode()}"


def hash_file(path: str | Path) -> Cid:
    """The raw-codec CID of a file's bytes, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return Cid(_RAW_SHA256 + digest.digest())


class BlobStore:
    """The ``blobs/`` folder of one repository's storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def has(self, cid: Cid) -> bool:
        """Whether the blob is stored."""
        return self.storage.exists(blob_key(cid))

    def url(self, cid: Cid) -> str:
        """The blob's location as a URL of the repository's backend (for tables and players)."""
        return self.storage.location(blob_key(cid))

    def put_file(self, cid: Cid, path: str | Path) -> None:
        """Keep the file at ``path`` as blob ``cid``, once its bytes are checked to be that CID.

        Raises:
            BlockHashMismatch: the bytes are not the blob ``cid`` (nothing is stored).
            RepositoryError: the backend failed.
        """
        actual = hash_file(path)
        if actual != cid:
            raise BlockHashMismatch(f"blob bytes hash to {actual.encode()}, not {cid.encode()}")
        if not self.has(cid):
            self.storage.put_file(blob_key(cid), str(path))

    def stored(self) -> Iterator[tuple[Cid | None, ObjectInfo]]:
        """Every object under ``blobs/``, with its CID (None for a name that is not one)."""
        for info in self.storage.list(BLOBS + "/"):
            try:
                yield parse_cid(info.key.removeprefix(BLOBS + "/")), info
            except CodecError:
                yield None, info

    def verify(self, cid: Cid) -> bool:
        """Whether the stored bytes of ``cid`` still hash to it (streamed)."""
        digest = hashlib.sha256()
        with self.storage.open(blob_key(cid)) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return Cid(_RAW_SHA256 + digest.digest()) == cid
