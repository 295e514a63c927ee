"""Records prepared while the CAR downloads, before anything about them is trusted.

A :class:`~lairs_etl.atproto.fetch.model.FetchedRecord` needs its key (from an MST
node entry) and its checked block, which ``getRepo`` sends in no particular order:
:class:`RecordPrebuilder` takes both sides as they come and builds a record as soon
as it has the pair. This is bookkeeping only: :func:`._verified.records_from_leaves`
uses a prepared record only for a leaf of the verified walk with the same key and
CID, and builds the record itself otherwise. Its point is that the work (URI parsing,
object creation) runs while the PDS is still sending, not after.
"""

from __future__ import annotations

from collections.abc import Mapping

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.model import FetchedRecord
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.errors import InvalidIdentifier

__all__ = ["RecordPrebuilder"]


class RecordPrebuilder:
    """Pairs node entries with checked record blocks, in either order; see the module doc.

    ``values`` is the shared map of checked blocks by binary CID that the reader
    fills; call :meth:`block` after adding to it, and :meth:`entry` for every node entry.
    """

    def __init__(self, did: Did, values: Mapping[bytes, bytes]) -> None:
        self.records: dict[str, FetchedRecord] = {}
        """Prepared records by MST key (the last entry seen wins; checked on use)."""
        self._did = str(did)
        self._values = values
        self._waiting: dict[bytes, list[tuple[str, Cid]]] = {}
        self._queue = True

    def entry(self, key: str, cid: Cid) -> None:
        """A node entry arrived: build its record now, or when its block is decoded."""
        raw = cid.cid_bytes
        hit = self._values.get(raw)
        if hit is not None:
            self._build(key, cid, hit)
        elif self._queue:
            self._waiting.setdefault(raw, []).append((key, cid))

    def stop_waiting(self) -> None:
        """No more blocks will be decoded in this attempt: drop the waiting entries, queue none.

        The reader checks blocks ahead only up to a budget; past it, an entry left
        waiting never gets its record, and holding one (a key and a CID) for most
        records of a large repository was a few percent of its sync's peak memory.
        """
        self._waiting.clear()
        self._queue = False

    def new_attempt(self) -> None:
        """The download starts again (a retry): blocks are checked again, so entries wait."""
        self._queue = True

    def block(self, raw_cid: bytes) -> None:
        """The block under ``raw_cid`` was just decoded into ``values``."""
        waiting = self._waiting.pop(raw_cid, None)
        if waiting is not None:
            hit = self._values[raw_cid]
            for key, cid in waiting:
                self._build(key, cid, hit)

    def _build(self, key: str, cid: Cid, block: bytes) -> None:
        try:
            uri = AtUri.for_path(self._did, key)
        except InvalidIdentifier:
            return  # records_from_leaves reports it if the key is in the verified tree
        self.records[key] = FetchedRecord(uri=uri, cid=cid, block=block)
