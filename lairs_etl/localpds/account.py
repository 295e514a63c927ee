"""An account on the local PDS and the writes tests, the demo and benchmarks need.

Writes leave ``validate`` unset: ``validate: true`` makes the reference PDS reject
lexicons it does not know, which includes every ``pub.layers.*`` collection.
Creating a record whose rkey exists answers HTTP 500, not a 4xx: use
:meth:`Account.put_record` to upsert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.syntax import AtUri, Did, Handle
from lairs_etl.errors import XrpcError
from lairs_etl.localpds._xrpc import JsonObject, call, call_json

__all__ = ["MAX_WRITES_PER_CALL", "Account", "LatestCommit", "WrittenRecord", "batch_writes"]

MAX_WRITES_PER_CALL = 200
"""``applyWrites`` refuses more ("Too many writes. Max: 200")."""
_MAX_BODY_BYTES = 950_000
"""The PDS answers 413 past 1,000,000 bytes of JSON; keep a margin for the envelope."""
_CREATE = "com.atproto.repo.applyWrites#create"


class WrittenRecord(NamedTuple):
    """Where a write landed: unpacks as ``uri, cid = ...``."""

    uri: AtUri
    cid: Cid


class LatestCommit(NamedTuple):
    """The head of a repository: commit CID and revision (a TID)."""

    cid: Cid
    rev: str


def batch_writes(writes: Iterable[Mapping[str, object]]) -> Iterator[list[Mapping[str, object]]]:
    """Group ``applyWrites`` operations into calls the PDS accepts (count and body size).

    A single write larger than the body limit still gets its own batch, so the PDS
    reports the problem (413) instead of it being silently dropped.
    """
    batch: list[Mapping[str, object]] = []
    size = 0
    for write in writes:
        write_size = len(json.dumps(write, separators=(",", ":"))) + 1
        if batch and (len(batch) == MAX_WRITES_PER_CALL or size + write_size > _MAX_BODY_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(write)
        size += write_size
    if batch:
        yield batch


@dataclass(frozen=True)
class Account:
    """A logged-in account; methods act on its own repository with its access token.

    The access token lives two hours on the reference PDS: long enough for a test
    session, a demo or a benchmark run, so there is no refresh logic.
    """

    did: Did
    handle: Handle
    password: str = field(repr=False)
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)
    client: httpx.Client = field(repr=False, compare=False)

    def create_record(
        self, collection: str, record: Mapping[str, object], rkey: str | None = None
    ) -> WrittenRecord:
        """``com.atproto.repo.createRecord``; the PDS picks a TID rkey when none is given.

        Raises:
            XrpcError: the PDS refused (an existing ``rkey`` gives status 500).
            TransportError: the request did not complete.
        """
        body: dict[str, object] = {"repo": self.did, "collection": collection, "record": dict(record)}
        if rkey is not None:
            body["rkey"] = rkey
        return _written(self._post("com.atproto.repo.createRecord", body))

    def put_record(self, collection: str, rkey: str, record: Mapping[str, object]) -> WrittenRecord:
        """``com.atproto.repo.putRecord``: create or replace the record at ``rkey``.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        body = {"repo": self.did, "collection": collection, "rkey": rkey, "record": dict(record)}
        return _written(self._post("com.atproto.repo.putRecord", body))

    def delete_record(self, collection: str, rkey: str) -> None:
        """``com.atproto.repo.deleteRecord`` (deleting a missing record is not an error).

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        body = {"repo": self.did, "collection": collection, "rkey": rkey}
        self._post("com.atproto.repo.deleteRecord", body)

    def apply_writes(self, writes: Iterable[Mapping[str, object]]) -> list[JsonObject]:
        """Apply ``applyWrites`` operations in as many calls as the PDS limits need.

        Each call is atomic; the sequence is not (a failure leaves earlier calls landed).
        Returns the per-write results of every call, in order.

        Raises:
            XrpcError: the PDS refused a call.
            TransportError: a request did not complete.
        """
        results: list[JsonObject] = []
        for batch in batch_writes(writes):
            answer = self._post("com.atproto.repo.applyWrites", {"repo": self.did, "writes": batch})
            results.extend(answer.get("results", []))
        return results

    def bulk_create(self, collection: str, records: Iterable[Mapping[str, object]]) -> list[WrittenRecord]:
        """Create many records fast (about 700 a second locally) through ``applyWrites``.

        Raises:
            XrpcError: the PDS refused a call (earlier calls stay landed).
            TransportError: a request did not complete.
        """
        writes = ({"$type": _CREATE, "collection": collection, "value": dict(r)} for r in records)
        return [_written(result) for result in self.apply_writes(writes)]

    def upload_blob(self, data: bytes, mime_type: str) -> JsonObject:
        """``com.atproto.repo.uploadBlob``: the blob ref to put in a record (which keeps it).

        Raises:
            XrpcError: the PDS refused (too large, for one).
            TransportError: the request did not complete.
        """
        answer = call(
            self.client, "com.atproto.repo.uploadBlob", token=self.access_jwt, raw=(data, mime_type)
        )
        try:
            body = answer.json()
        except ValueError as exc:  # JSONDecodeError: not JSON at all
            raise XrpcError("uploadBlob answered non-JSON", error=None, status=answer.status_code) from exc
        blob = body.get("blob") if isinstance(body, dict) else None
        if not isinstance(blob, dict):
            raise XrpcError("uploadBlob answered without a blob", error=None, status=answer.status_code)
        return blob

    def list_records(self, collection: str) -> list[JsonObject]:
        """Every record of ``collection`` (``uri``, ``cid``, ``value``), following cursors.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        records: list[JsonObject] = []
        params: dict[str, str | int] = {"repo": self.did, "collection": collection, "limit": 100}
        while True:
            page = call_json(self.client, "com.atproto.repo.listRecords", params=params)
            records.extend(page.get("records", []))
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return records
            params["cursor"] = cursor

    def get_repo(self, since: str | None = None) -> bytes:
        """``com.atproto.sync.getRepo``: the repository as CAR bytes (or the blocks since a rev).

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        params: dict[str, str | int] = {"did": self.did}
        if since is not None:
            params["since"] = since
        return call(self.client, "com.atproto.sync.getRepo", params=params).content

    def latest_commit(self) -> LatestCommit:
        """``com.atproto.sync.getLatestCommit``.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        answer = call_json(self.client, "com.atproto.sync.getLatestCommit", params={"did": self.did})
        return LatestCommit(cid=parse_cid(answer["cid"]), rev=str(answer["rev"]))

    def deactivate(self) -> None:
        """``com.atproto.server.deactivateAccount`` as the user (reversible with :meth:`activate`).

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        self._post("com.atproto.server.deactivateAccount", {})

    def activate(self) -> None:
        """``com.atproto.server.activateAccount`` as the user.

        Raises:
            XrpcError: the PDS refused.
            TransportError: the request did not complete.
        """
        call(self.client, "com.atproto.server.activateAccount", token=self.access_jwt, procedure=True)

    def _post(self, nsid: str, body: Mapping[str, object]) -> JsonObject:
        return call_json(self.client, nsid, body=body, token=self.access_jwt)


def _written(answer: Mapping[str, object]) -> WrittenRecord:
    return WrittenRecord(uri=AtUri(str(answer["uri"])), cid=parse_cid(str(answer["cid"])))
