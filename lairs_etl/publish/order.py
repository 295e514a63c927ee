"""Write order from the references records contain: targets first, cycles together.

The graph has an edge from a record to every record of the same plan it references
(:func:`~lairs_etl.publish.refs.record_references`, which reads the schema). Tarjan's
algorithm finds its strongly connected components and emits each only after every
component it reaches, so emitting order is "targets before referrers"; a component of
several records is a reference cycle (corpus↔eprint, expression↔media …) and is kept
together so that it lands in one ``applyWrites`` call, one atomic commit. Deletes
use the same graph over the PDS's current values, reversed: referrers go first.
Ties break by URI so a plan is the same every time it is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import JsonValue

from lairs_etl.atproto.syntax import AtUri
from lairs_etl.publish.refs import record_references

if TYPE_CHECKING:
    from lairs_etl.publish.plan import Write

__all__ = ["order_groups", "strongly_connected"]


def strongly_connected(nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's SCCs of a graph, each emitted after every SCC it has an edge to.

    Iterative, so a reference chain of any length cannot exhaust the Python stack.
    Edges to nodes outside ``nodes`` are ignored.
    """
    known = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = [t for t in edges.get(node, ()) if t in known]
            for i in range(pos, len(targets)):
                target = targets[i]
                if target not in index:
                    work.append((node, i + 1))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return out


def order_groups(
    upserts: Sequence[Write], deletes: Sequence[tuple[Write, JsonValue]]
) -> tuple[tuple[Write, ...], ...]:
    """Creates and updates (targets first), then deletes (referrers first), in groups.

    ``deletes`` pairs each delete with the record's current value on the PDS (``None``
    when unknown: it then has no ordering constraint).
    """
    by_uri = {str(w.uri): w for w in upserts}
    edges = {uri: _targets(w.uri, w.value) for uri, w in by_uri.items()}
    groups = [tuple(by_uri[u] for u in component) for component in strongly_connected(sorted(by_uri), edges)]
    gone = {str(w.uri): (w, value) for w, value in deletes}
    gone_edges = {uri: _targets(w.uri, value) for uri, (w, value) in gone.items()}
    for component in reversed(strongly_connected(sorted(gone), gone_edges)):
        groups.append(tuple(gone[u][0] for u in component))
    return tuple(groups)


def _targets(uri: AtUri, value: JsonValue) -> list[str]:
    if value is None or uri.collection is None:
        return []
    return sorted(str(t) for t in record_references(uri.collection, value) if t != uri)
