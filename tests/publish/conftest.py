"""Shared pieces of the publish tests against the real PDS."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from tests.publish._corpus import demo_batch

if TYPE_CHECKING:
    from lairs_etl.localpds import Account


def demo_repo(path: Path | None, did: str, *, expressions: int = 5) -> Repository:
    """A repository whose ``main`` holds the demo corpus of ``did``."""
    url = str(path) if path is not None else f"memory://publish-{uuid.uuid4().hex}"
    repo = Repository.init(url)
    repo.stage(did, demo_batch(did, expressions=expressions).entries(), replace=True)
    repo.commit("demo corpus", "tests")
    return repo


def pds_records(account: Account) -> dict[str, str]:
    """Every Layers record on the account's PDS, ``uri -> cid``, read with listRecords."""
    found: dict[str, str] = {}
    for collection in record_types():
        for item in account.list_records(collection):
            found[str(item["uri"])] = str(item["cid"])
    return found


def local_cids(repo: Repository, did: str, rev: str = "main") -> dict[str, str]:
    return {str(r.uri): r.cid.encode() for r in repo.iter_records(rev, dids=[did])}
