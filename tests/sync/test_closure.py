"""The reference closure of a corpus over a repository: what it takes, what it leaves, where it stops."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.errors import ConfigError
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import ClosureLimits, corpus_closure

EXPR = "pub.layers.expression.expression"
LAYER = "pub.layers.annotation.annotationLayer"
CORPUS = "pub.layers.corpus.corpus"
MEMBER = "pub.layers.corpus.membership"
WHEN = "2025-01-01T00:00:00.000Z"

A, B, W, P, N, Y = (f"did:plc:{c * 24}" for c in "abwpny")  # curators A, B; writer; parent; ...


def _uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


CORPUS_A, CORPUS_B = _uri(A, CORPUS, "3kcorpusa0000"), _uri(B, CORPUS, "3kcorpusb0000")
SHARED = _uri(W, EXPR, "3kshared00000")  # a member of both corpora
ONLY_B = _uri(W, EXPR, "3konlyb000000")
DOCUMENT = _uri(P, EXPR, "3kdocument000")  # SHARED's parent
SIBLING = _uri(P, EXPR, "3ksibling0000")  # another child of DOCUMENT
CHILD = _uri(W, EXPR, "3kchild000000")  # a sub-expression of SHARED


def _expression(**refs: str) -> dict[str, Any]:
    return {"$type": EXPR, "createdAt": WHEN, "id": "e", "kind": "sentence", "text": "t", **refs}


def _member(corpus: str, expression: str) -> dict[str, Any]:
    return {"$type": MEMBER, "createdAt": WHEN, "corpusRef": corpus, "expressionRef": expression}


def _layer(expression: str) -> dict[str, Any]:
    return {"$type": LAYER, "createdAt": WHEN, "expression": expression, "kind": "span", "annotations": []}


RECORDS: dict[str, dict[str, Any]] = {
    CORPUS_A: {"$type": CORPUS, "createdAt": WHEN, "name": "A"},
    CORPUS_B: {"$type": CORPUS, "createdAt": WHEN, "name": "B"},
    _uri(A, MEMBER, "3kmembera0000"): _member(CORPUS_A, SHARED),
    _uri(B, MEMBER, "3kmemberb0000"): _member(CORPUS_B, SHARED),
    _uri(B, MEMBER, "3kmemberb0001"): _member(CORPUS_B, ONLY_B),
    SHARED: _expression(parentRef=DOCUMENT),
    ONLY_B: _expression(),
    DOCUMENT: _expression(),
    SIBLING: _expression(parentRef=DOCUMENT),
    CHILD: _expression(parentRef=SHARED),
    _uri(A, LAYER, "3klayera00000"): _layer(SHARED),
    _uri(B, LAYER, "3klayerb00000"): _layer(ONLY_B),
    _uri(N, LAYER, "3klayern00000"): _layer(SHARED),  # held, but nothing in A points at N
}


def _repository(held: set[str] | None = None) -> Repository:
    repo = Repository.init(f"memory://closure-{secrets.token_hex(6)}/repo")
    by_actor: dict[str, list[tuple[str, str, Any, bytes]]] = {}
    for uri, value in RECORDS.items():
        _, _, did, collection, rkey = uri.split("/")
        if held is None or did in held:
            block = cbor.encode_json_form(value)
            by_actor.setdefault(did, []).append((collection, rkey, cid_for_dag_cbor(block), block))
    for did, records in by_actor.items():
        repo.stage(did, records, replace=True)  # type: ignore[arg-type]
    repo.commit("test corpus", "tests")
    return repo


def test_a_shared_expression_does_not_pull_in_the_other_corpus() -> None:
    closure = corpus_closure(_repository(), CORPUS_A)
    assert closure.found
    assert closure.members == 1
    # A's records, the member expression, its parent (forward), its sub-expression and
    # layer (back-references of a member), never B's corpus, memberships or layers,
    # nor the parent's other children, nor N's layer (N is never read).
    assert set(closure.actors) == {A, W, P}
    assert closure.actors[0] == A
    assert closure.expressions == tuple(sorted((SHARED, DOCUMENT, CHILD)))
    assert closure.records == 6  # corpus, membership, layer, SHARED, DOCUMENT, CHILD
    assert closure.missing == ()
    assert closure.truncated is None


def test_the_other_corpus_gets_its_own_members() -> None:
    closure = corpus_closure(_repository(), CORPUS_B)
    assert closure.members == 2
    assert set(closure.actors) == {B, W, P}
    assert ONLY_B in closure.expressions


def test_an_appview_hint_is_read_and_joins_only_through_its_records() -> None:
    repo = _repository()
    hinted = corpus_closure(repo, CORPUS_A, hinted=[N, Y])
    assert N in hinted.actors  # its layer annotates a member expression
    assert Y not in hinted.actors  # named, but holds nothing (and is not held)
    assert hinted.records == 7


def test_actors_not_held_yet_are_missing_and_limits_truncate() -> None:
    repo = _repository(held={A})
    first = corpus_closure(repo, CORPUS_A)
    assert (first.actors, first.missing) == ((A, W), (W,))
    shallow = corpus_closure(_repository(), CORPUS_A, limits=ClosureLimits(max_depth=1))
    assert set(shallow.actors) == {A, W}
    assert shallow.truncated == "max_depth"
    narrow = corpus_closure(_repository(), CORPUS_A, limits=ClosureLimits(max_actors=2))
    assert len(narrow.actors) == 2
    assert narrow.truncated == "max_actors"


def test_bad_corpus_uris_and_limits_are_refused() -> None:
    repo = _repository()
    with pytest.raises(ConfigError, match="does not name"):
        corpus_closure(repo, SHARED)
    with pytest.raises(ConfigError, match="handle"):
        corpus_closure(repo, "at://alice.test/pub.layers.corpus.corpus/3k")
    with pytest.raises(ConfigError):
        ClosureLimits(max_actors=0)
