"""A corpus repository holding the demo corpus (shared by the source and CLI tests)."""

from __future__ import annotations

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.repo.repository import Repository
from tests.views import demo


def demo_repository(url: str, storage_options: dict[str, object] | None = None) -> str:
    """Commit the demo corpus at ``url``; returns the commit CID."""
    repo = Repository.init(url, storage_options)
    by_actor: dict[str, list[tuple[str, str, object, bytes]]] = {}
    for did, collection, rkey, value in demo.records():
        block = cbor.encode_json_form(value)
        by_actor.setdefault(did, []).append((collection, rkey, cid_for_dag_cbor(block), block))
    for did, records in by_actor.items():
        repo.stage(did, records, replace=True)  # type: ignore[arg-type]
    return repo.commit("demo corpus", "tests").encode()
