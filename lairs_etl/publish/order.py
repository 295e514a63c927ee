"""Write order from the references records contain: targets first, cycles together.

The graph has an edge from a record to every record of the same plan it references
(:func:`~lairs_etl.records.references.record_references`, which reads the schema). Tarjan's
algorithm finds its strongly connected components and emits each only after every
component it reaches, so emitting order is "targets before referrers"; a component of
several records is a reference cycle (corpus↔eprint, expression↔media …) and is kept
together so that it lands in one ``applyWrites`` call, one atomic commit. Deletes
use the same graph over the PDS's current values, reversed: referrers go first.
The emitted components are then laid out breadth first (what depends on nothing,
then what depends only on that …), which keeps the batching dense. Ties break by URI
so a plan is the same every time it is made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import JsonValue

from lairs_etl.atproto.syntax import AtUri
from lairs_etl.records.references import reference_strings

if TYPE_CHECKING:
    from lairs_etl.publish.plan import Write

__all__ = ["Depends", "Groups", "order_groups", "order_writes", "strongly_connected"]


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


Groups = tuple[tuple["Write", ...], ...]
Depends = tuple[frozenset[int], ...]


def order_groups(upserts: Sequence[Write], deletes: Sequence[tuple[Write, JsonValue]]) -> Groups:
    """Creates and updates (targets first), then deletes (referrers first), in groups.

    ``deletes`` pairs each delete with the record's current value on the PDS (``None``
    when unknown: it then has no ordering constraint).
    """
    return order_writes(upserts, deletes)[0]


def order_writes(
    upserts: Sequence[Write], deletes: Sequence[tuple[Write, JsonValue]]
) -> tuple[Groups, Depends]:
    """:func:`order_groups` and, per group, the groups that must land no later than it.

    A create or update group depends on the groups of the records it references; a
    delete group on the groups of the records that reference it (they go first).
    """
    by_uri = {str(w.uri): w for w in upserts}
    edges = {uri: _targets(w.uri, w.value) for uri, w in by_uri.items()}
    components = strongly_connected(sorted(by_uri), edges)
    gone = {str(w.uri): (w, value) for w, value in deletes}
    gone_edges = {uri: _targets(w.uri, value) for uri, (w, value) in gone.items()}
    gone_components = list(reversed(strongly_connected(sorted(gone), gone_edges)))
    groups = [tuple(by_uri[u] for u in c) for c in components]
    groups += [tuple(gone[u][0] for u in c) for c in gone_components]
    where = {u: i for i, c in enumerate(components) for u in c}
    depends = [
        frozenset(where[t] for u in c for t in edges[u] if t in where) - {i} for i, c in enumerate(components)
    ]
    offset = len(components)
    gone_where = {u: offset + i for i, c in enumerate(gone_components) for u in c}
    referrers: dict[int, set[int]] = {}
    for uri, targets in gone_edges.items():
        for target in targets:
            if target in gone_where and gone_where[target] != gone_where[uri]:
                referrers.setdefault(gone_where[target], set()).add(gone_where[uri])
    depends += [frozenset(referrers.get(offset + i, ())) for i in range(len(gone_components))]
    return _level_order(groups, depends, phase=offset)


def _level_order(
    groups: Sequence[tuple[Write, ...]], depends: Sequence[frozenset[int]], *, phase: int
) -> tuple[Groups, Depends]:
    """Re-order breadth first (Kahn's algorithm, FIFO): every group as soon as it may go.

    Any topological order is correct; this one puts all the groups that depend on
    nothing first, then those depending only on them, and so on, which keeps groups of
    a kind together and makes groups ready early, so the batching finds small ones to
    fill calls with. Groups before ``phase`` (creates and updates) all come before the
    others (deletes).
    """
    order: list[int] = []
    for lo, hi in ((0, phase), (phase, len(groups))):
        waiting = {i: len(depends[i]) for i in range(lo, hi)}
        dependents: dict[int, list[int]] = {}
        for i in range(lo, hi):
            for d in depends[i]:
                dependents.setdefault(d, []).append(i)
        queue = deque(i for i in range(lo, hi) if not waiting[i])
        while queue:
            i = queue.popleft()
            order.append(i)
            for j in dependents.get(i, ()):
                waiting[j] -= 1
                if not waiting[j]:
                    queue.append(j)
    new = {old: i for i, old in enumerate(order)}
    return tuple(groups[i] for i in order), tuple(frozenset(new[d] for d in depends[i]) for i in order)


def _targets(uri: AtUri, value: JsonValue) -> list[str]:
    if value is None or uri.collection is None:
        return []
    return sorted(t for t in reference_strings(uri.collection, value) if t != uri)
