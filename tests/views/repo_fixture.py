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


def drop_one_expression(repo: Repository) -> str:
    """Commit the demo corpus with bob's first expression gone; returns the commit CID.

    The smallest later corpus state: one actor's partitions of a few tables change.
    """
    bob = [r for r in demo.records() if r[0] == demo.BOB and r[1] == demo.EXPR]
    kept = [(c, k, v) for d, c, k, v in demo.records() if d == demo.BOB and (c, k) != bob[0][1:3]]
    blocks = [(c, k, cbor.encode_json_form(v)) for c, k, v in kept]
    repo.stage(demo.BOB, [(c, k, cid_for_dag_cbor(b), b) for c, k, b in blocks], replace=True)  # type: ignore[arg-type]
    return repo.commit("second", "tests").encode()
