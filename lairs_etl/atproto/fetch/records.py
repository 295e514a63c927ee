"""The ``records`` mode: ``repo.listRecords`` pages, each record's CID recomputed.

The fallback for a PDS that does not serve the sync endpoints. Every record's DAG-CBOR
encoding is rebuilt from the JSON form the PDS sent and hashed; a CID that differs is a
:class:`~lairs_etl.errors.RecordCidMismatch`. That proves the records were not damaged
on the way and are the ones the PDS's index names, but not that the actor wrote them:
there is no signed commit, so the result has ``authenticated=False``.

Pagination is bounded: a cursor that comes back (``a``, ``b``, ``a`` …) is refused at
once, at most ``pages`` pages are read per collection, and the pages of one actor
together may hold at most ``records_bytes`` (this mode keeps them in memory).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, parse_cid
from lairs_etl.atproto.fetch.model import CollectionFilter, FetchedRecord, FetchResult
from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.errors import (
    CodecError,
    FetchError,
    InvalidIdentifier,
    LimitExceededError,
    MalformedResponseError,
    RecordCidMismatch,
    ResponseTooLargeError,
    TransportError,
)

__all__ = ["PAGE_SIZE", "fetch_records", "list_collection"]

PAGE_SIZE = 100
"""``listRecords`` page size: the lexicon's maximum."""


def fetch_records(
    did: Did,
    pds_url: str,
    collections: CollectionFilter,
    *,
    client: Client,
    repo_collections: list[str] | None = None,
) -> FetchResult:
    """Fetch every tracked record by ``listRecords``, checking each record's CID.

    ``repo_collections`` (from ``describeRepo``) is asked for when the filter holds
    namespace prefixes and it was not given, since ``listRecords`` needs exact NSIDs.

    Raises:
        RecordCidMismatch: a record does not hash to the CID the PDS reported.
        FetchError: the PDS answered with something that is not a record page, or
            ``describeRepo`` failed when a namespace had to be expanded.
    """
    started = time.perf_counter()
    wanted = sorted(collections.nsids)
    if collections.namespaces:
        if repo_collections is None:
            repo_collections = _describe(did, pds_url, client)
        wanted = sorted(set(wanted) | set(collections.select(repo_collections)))
    records: list[FetchedRecord] = []
    transferred = 0
    for collection in wanted:
        page_records, page_bytes = list_collection(
            did, pds_url, collection, client=client, held=transferred
        )
        records.extend(page_records)
        transferred += page_bytes
    return FetchResult(
        did=did,
        mode="records",
        rev=None,
        commit=None,
        data=None,
        records=tuple(records),
        bytes_transferred=transferred,
        seconds=time.perf_counter() - started,
        verified=True,
        authenticated=False,
    )


def list_collection(
    did: Did, pds_url: str, collection: Nsid, *, client: Client, held: int = 0
) -> tuple[list[FetchedRecord], int]:
    """All records of one collection, CID-checked; also the approximate bytes received.

    ``held`` is what the actor's earlier collections already hold, counted against
    ``records_bytes``.

    Raises:
        RecordCidMismatch: a record does not hash to its reported CID.
        FetchError: a malformed page.
        MalformedResponseError: a cursor came back (the server would page forever).
        LimitExceededError: more than ``pages`` pages (``limit="pages"``), or more than
            ``records_bytes`` held (:class:`ResponseTooLargeError`).
    """
    limits = client.limits
    records: list[FetchedRecord] = []
    transferred = 0
    cursor: str | None = None
    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        if pages > limits.pages:
            raise LimitExceededError(
                f"listRecords of {collection} goes past pages={limits.pages}",
                limit="pages", value=limits.pages, actor=str(did),
            )
        params: dict[str, str | int] = {"repo": str(did), "collection": str(collection), "limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        page = client.query(pds_url, "com.atproto.repo.listRecords", params)
        items = page.get("records") if isinstance(page, dict) else None
        if not isinstance(page, dict) or not isinstance(items, list):
            raise FetchError("listRecords answered without a records list", actor=str(did))
        for item in items:
            record = _checked(item, did, collection)
            transferred += len(record.block)
            records.append(record)
        if held + transferred > limits.records_bytes:
            raise ResponseTooLargeError(
                f"listRecords pages hold more than records_bytes={limits.records_bytes}",
                limit="records_bytes", value=limits.records_bytes, actor=str(did),
            )
        next_cursor = page.get("cursor")
        if not items or not isinstance(next_cursor, str) or not next_cursor:
            return records, transferred
        if next_cursor in seen or next_cursor == cursor:
            raise MalformedResponseError(
                f"listRecords of {collection} gave cursor {next_cursor[:80]!r} a second time "
                f"(page {pages}): it would page forever",
                actor=str(did),
            )
        seen.add(next_cursor)
        cursor = next_cursor


def _checked(item: object, did: Did, collection: Nsid) -> FetchedRecord:
    if not isinstance(item, Mapping) or not isinstance(item.get("uri"), str) or "value" not in item:
        raise FetchError("listRecords returned a malformed record entry", actor=str(did))
    try:
        uri = AtUri(item["uri"])
    except InvalidIdentifier as exc:
        raise MalformedResponseError(
            f"listRecords returned a record whose uri is not an AT-URI: {exc.message}", actor=str(did)
        ) from exc
    if uri.did != did or uri.collection != collection or uri.rkey is None:
        raise FetchError(f"listRecords returned a record outside {collection}", actor=str(did), uri=str(uri))
    try:
        claimed: Cid = parse_cid(str(item.get("cid")))
        block = cbor.encode_json_form(item["value"])
    except CodecError as exc:
        raise RecordCidMismatch(
            f"record cannot be checked: {exc.message}", actor=str(did), uri=str(uri)
        ) from exc
    actual = cid_for_dag_cbor(block)
    if actual != claimed:
        raise RecordCidMismatch(
            f"record encodes to {actual.encode()}, not the CID the PDS reported",
            actor=str(did),
            uri=str(uri),
            cid=claimed.encode(),
        )
    return FetchedRecord(uri=uri, cid=claimed, block=block)


def _describe(did: Did, pds_url: str, client: Client) -> list[str]:
    """The repository's collections, which a namespace filter needs to become NSIDs."""
    try:
        answer = client.query(pds_url, "com.atproto.repo.describeRepo", {"repo": str(did)})
    except TransportError as exc:
        raise FetchError(
            f"describeRepo failed ({exc.message}); name exact collection NSIDs for the records mode",
            actor=str(did),
        ) from exc
    values = answer.get("collections") if isinstance(answer, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise FetchError("describeRepo answered without a collections list", actor=str(did))
    return [str(v) for v in values]
