"""Blobs are uploaded once, by CID, before the records that use them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from lairs_etl.atproto.cid import cid_for_raw
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError
from lairs_etl.records.builders import RecordBatch, build_record
from lairs_etl.repo.repository import Repository
from tests.publish._publishing import apply_as
from tests.publish.conftest import local_cids, pds_records

if TYPE_CHECKING:
    from lairs_etl.localpds import Account

pytestmark = pytest.mark.usefixtures("local_pds")
AUDIO = b"RIFF" + bytes(range(256)) * 40


def _repo_with_blob(did: str) -> Repository:
    cid = cid_for_raw(AUDIO)
    blob = {"$type": "blob", "ref": {"$link": cid.encode()}, "mimeType": "audio/wav", "size": len(AUDIO)}
    batch = RecordBatch(did)
    batch.add(
        build_record("pub.layers.media.media", kind="audio", createdAt="2026-01-01T00:00:00Z", blob=blob)
    )
    repo = Repository.init(f"memory://blobs-{uuid.uuid4().hex}")
    repo.stage(did, batch.entries(), replace=True)
    repo.commit("media", "tests")
    return repo


def test_a_blob_is_uploaded_once_and_the_record_lands(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("blob")
    repo = _repo_with_blob(account.did)
    asked: list[str] = []

    def source(cid):  # type: ignore[no-untyped-def]
        asked.append(cid.encode())
        return {cid_for_raw(AUDIO): AUDIO}[cid]

    report = apply_as(account, repo, client, resolver, blob_source=source)
    assert [c.encode() for c in report.blobs_uploaded] == [cid_for_raw(AUDIO).encode()] == asked
    assert pds_records(account) == local_cids(repo, account.did)
    again = apply_as(account, repo, client, resolver, blob_source=source)
    assert again.blobs_uploaded == ()
    assert len(asked) == 1


def test_a_missing_blob_stops_before_any_write(
    pds_account: Callable[..., Account], client: XrpcClient, resolver: IdentityResolver
) -> None:
    account = pds_account("blob")
    repo = _repo_with_blob(account.did)
    with pytest.raises(ConfigError, match="blob"):
        apply_as(account, repo, client, resolver)
    assert pds_records(account) == {}
