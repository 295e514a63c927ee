"""The ``com.atproto.sync`` calls the verified modes share: ``getRepo``, ``getBlocks``.

``getRepo`` streams into a sink (the car mode's pipeline); ``getBlocks`` runs in
batches and hands back blocks already hash-checked by the CAR reader, each one asked
for and none missing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, cast

from lairs_etl.atproto.car import MAX_BLOCK_SIZE, read_car
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.protocols import Client, Params
from lairs_etl.atproto.syntax import Did
from lairs_etl.errors import CarFormatError

__all__ = ["BLOCKS_PER_CALL", "download_repo", "get_blocks"]

BLOCKS_PER_CALL = 200
"""CIDs per ``getBlocks`` call: the reference PDS refuses ~300 (431, the URL is too long)."""

_SPOOL_BYTES = 8 * 1024 * 1024
"""A ``getBlocks`` answer past this goes to a temporary file while it is checked."""
_SECTION_OVERHEAD = 64
"""Bytes of CAR framing around one block at most (length varint and CID)."""


def download_repo(client: Client, pds_url: str, did: Did, sink: BinaryIO, *, since: str | None = None) -> int:
    """Stream ``getRepo`` (optionally ``since`` a rev) into ``sink``; returns its size."""
    params: dict[str, str] = {"did": str(did)}
    if since is not None:
        params["since"] = since
    written = client.download(pds_url, "com.atproto.sync.getRepo", params, sink)
    sink.flush()
    sink.seek(0)
    return written


def get_blocks(
    client: Client, pds_url: str, did: Did, cids: Iterable[Cid], *, workers: int = 4
) -> tuple[dict[Cid, bytes], int]:
    """Fetch blocks by CID, every one hash-checked and every one present.

    Returns the blocks and the bytes received. Batches run on a few threads (the client
    is thread-safe), which hides the PDS's per-call latency on deep trees.

    Raises:
        CarFormatError: a block asked for is missing from the answer.
        BlockHashMismatch: a block does not hash to its CID.
    """
    wanted = list(dict.fromkeys(cids))
    batches = [wanted[i : i + BLOCKS_PER_CALL] for i in range(0, len(wanted), BLOCKS_PER_CALL)]
    if not batches:
        return {}, 0
    if len(batches) == 1 or workers <= 1:
        results = [_get_batch(client, pds_url, did, batch) for batch in batches]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
            results = list(pool.map(lambda batch: _get_batch(client, pds_url, did, batch), batches))
    blocks: dict[Cid, bytes] = {}
    transferred = 0
    for batch_blocks, size in results:
        blocks.update(batch_blocks)
        transferred += size
    return blocks, transferred


def _get_batch(client: Client, pds_url: str, did: Did, batch: Sequence[Cid]) -> tuple[dict[Cid, bytes], int]:
    """One ``getBlocks`` call: no bigger than the blocks asked for could be, kept off the heap."""
    params: Params = {"did": str(did), "cids": [cid.encode() for cid in batch]}
    cap = 1024 + len(batch) * (MAX_BLOCK_SIZE + _SECTION_OVERHEAD)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as sink:
        size = client.download(
            pds_url, "com.atproto.sync.getBlocks", params, cast(BinaryIO, sink), max_bytes=cap
        )
        sink.seek(0)
        wanted = set(batch)
        received = {cid: data for cid, data in read_car(sink, verify=True) if cid in wanted}
    for cid in batch:
        if cid not in received:
            raise CarFormatError("getBlocks answer lacks a block asked for", actor=str(did), cid=cid.encode())
    return {cid: received[cid] for cid in batch}, size
