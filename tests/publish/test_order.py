"""Write order: targets first, cycles kept together, deletes referrers first."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto.cid import cid_for_dag_cbor
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.publish import Write, order_groups, strongly_connected

DID = "did:plc:abcdefghijklmnopqrstuvwx"
CID = cid_for_dag_cbor(b"\xa0")


def _uri(collection: str, rkey: str) -> AtUri:
    return AtUri.for_record(DID, collection, rkey)


def _reach(nodes: list[str], edges: dict[str, list[str]]) -> dict[str, set[str]]:
    """Slow oracle: everything reachable from each node (itself included)."""
    out: dict[str, set[str]] = {}
    for node in nodes:
        seen = {node}
        frontier = [node]
        while frontier:
            for target in edges.get(frontier.pop(), []):
                if target in nodes and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        out[node] = seen
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(
            st.just([f"n{i:02d}" for i in range(n)]),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
        )
    )
)
def test_components_are_the_cycles_and_come_after_what_they_reach(
    graph: tuple[list[str], list[tuple[int, int]]],
) -> None:
    nodes, pairs = graph
    edges: dict[str, list[str]] = {}
    for i, j in pairs:
        edges.setdefault(nodes[i], []).append(nodes[j])
    components = strongly_connected(nodes, edges)
    reach = _reach(nodes, edges)
    assert sorted(itertools.chain.from_iterable(components)) == nodes  # a partition
    position = {node: i for i, comp in enumerate(components) for node in comp}
    for a, b in itertools.product(nodes, nodes):
        mutual = b in reach[a] and a in reach[b]
        assert (position[a] == position[b]) == mutual  # same component iff mutually reachable
        if b in reach[a] and not mutual:
            assert position[b] < position[a]  # what a reaches is emitted first


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    nodes = [f"n{i:05d}" for i in range(20_000)]
    edges = {a: [b] for a, b in itertools.pairwise(nodes)}
    components = strongly_connected(nodes, edges)
    assert [c[0] for c in components] == nodes[::-1]


def _write(action: str, uri: AtUri, value: dict[str, object] | None = None) -> Write:
    return Write(action, uri, None if action == "delete" else CID, value)  # type: ignore[arg-type]


def test_upserts_go_targets_first_and_a_cycle_shares_a_group() -> None:
    corpus, eprint = (
        _uri("pub.layers.corpus.corpus", "3aaaaaaaaaaa2"),
        _uri("pub.layers.eprint.eprint", "3aaaaaaaaaaa3"),
    )
    layer = _uri("pub.layers.annotation.annotationLayer", "3aaaaaaaaaaa4")
    expression = _uri("pub.layers.expression.expression", "3aaaaaaaaaaa5")
    typedef = _uri("pub.layers.ontology.typeDef", "3aaaaaaaaaaa6")
    writes = [
        # the layer's reference to the type sits deep inside an annotation: found through the schema
        _write("create", layer, {"expression": expression, "annotations": [{"ontologyTypeRef": typedef}]}),
        _write("create", corpus, {"eprintRefs": [eprint]}),
        _write("update", eprint, {"corpusRef": corpus}),
        _write("create", expression, {"text": str(typedef)}),  # not an at-uri field: no edge
        _write("create", typedef, {}),
    ]
    groups = order_groups(writes, [])
    flat = [w.uri for g in groups for w in g]
    assert flat.index(expression) < flat.index(layer)
    assert flat.index(typedef) < flat.index(layer)
    assert {w.uri for w in next(g for g in groups if len(g) > 1)} == {corpus, eprint}
    assert sum(len(g) > 1 for g in groups) == 1


def test_deletes_go_referrers_first_after_every_upsert() -> None:
    expression = _uri("pub.layers.expression.expression", "3aaaaaaaaaaa5")
    layer = _uri("pub.layers.annotation.annotationLayer", "3aaaaaaaaaaa4")
    kept = _uri("pub.layers.corpus.corpus", "3aaaaaaaaaaa2")
    groups = order_groups(
        [_write("update", kept, {})],
        [
            (_write("delete", expression), {"text": "x"}),
            (_write("delete", layer), {"expression": str(expression)}),
        ],
    )
    assert [g[0].uri for g in groups] == [kept, layer, expression]


def test_references_outside_the_plan_do_not_constrain() -> None:
    outside = _uri("pub.layers.expression.expression", "3zzzzzzzzzzz2")
    layer = _uri("pub.layers.annotation.annotationLayer", "3aaaaaaaaaaa4")
    groups = order_groups([_write("create", layer, {"expression": str(outside)})], [])
    assert [g[0].uri for g in groups] == [layer]
