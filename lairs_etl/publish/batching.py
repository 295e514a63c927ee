"""Pack a plan's ordered groups into ``applyWrites`` calls under the PDS's two caps.

The reference PDS refuses more than 200 writes per call and request bodies over
1,000,000 bytes (413). Groups are packed greedily; a group (a reference cycle) is
never split across calls when it fits in one, and when it does not fit the rest of a
call, later groups that do not depend on it fill the call instead, so the number of
calls stays ⌈N/200⌉ unless the byte cap forces more. A cycle too large for any single
call is split, and reported, because no atomic commit could hold it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from lairs_etl.errors import ConfigError
from lairs_etl.publish.plan import Write

__all__ = ["Batching", "MAX_BODY_BYTES", "MAX_WRITES", "pack_calls"]

MAX_WRITES = 200
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Batching:
    """The calls to make, and how many cycles had to be split over several calls."""

    calls: tuple[tuple[Write, ...], ...]
    split_cycles: int


def _envelope(did: str) -> int:
    # the body around the writes; the CID placeholder is as long as a real base32 CID
    body = {"repo": did, "writes": [], "swapCommit": "b" * 59}
    return len(json.dumps(body, separators=(",", ":")))


def pack_calls(
    groups: Sequence[Sequence[Write]],
    did: str,
    *,
    depends: Sequence[frozenset[int]] | None = None,
    max_writes: int = MAX_WRITES,
    max_bytes: int = MAX_BODY_BYTES,
) -> Batching:
    """Pack ``groups`` into calls of at most ``max_writes`` writes and ``max_bytes`` bytes.

    Without ``depends`` the groups keep their order. With it (per group, the groups
    that must land no later), a call with room left takes later groups whose
    dependencies have landed, so a cycle that does not fit the rest of a call does
    not cost an extra call. Deletes still wait for every create and update.

    Raises:
        ConfigError: a single write is larger than a whole call may be.
    """
    base = _envelope(did)
    sizes = [[w.json_size() + 1 for w in group] for group in groups]  # +1: the comma
    deps = (
        depends
        if depends is not None
        else [frozenset({i - 1}) if i else frozenset() for i in range(len(groups))]
    )
    placed = [False] * len(groups)
    upserts_left = sum(1 for g in groups if g and g[0].action != "delete")
    calls: list[tuple[Write, ...]] = []
    split = 0
    remaining = list(range(len(groups)))
    while remaining:
        current: list[Write] = []
        size = base
        deferred: list[int] = []
        for n, i in enumerate(remaining):
            group, total = groups[i], sum(sizes[i])
            ready = all(placed[d] for d in deps[i]) and (groups[i][0].action != "delete" or not upserts_left)
            if ready and (len(group) > max_writes or base + total > max_bytes):
                if current:  # an oversized cycle starts on a fresh call
                    deferred.append(i)
                    continue
                split += 1
                calls.extend(_split(group, sizes[i], base, max_writes, max_bytes))
            elif ready and len(current) + len(group) <= max_writes and size + total <= max_bytes:
                current.extend(group)
                size += total
            else:
                deferred.append(i)
                if len(current) == max_writes:
                    deferred.extend(remaining[n + 1 :])
                    break
                continue
            placed[i] = True
            if group[0].action != "delete":
                upserts_left -= 1
        if current:
            calls.append(tuple(current))
        if len(deferred) == len(remaining):
            raise AssertionError("batching made no progress")  # pragma: no cover - order is topological
        remaining = deferred
    return Batching(tuple(calls), split)


def _split(
    group: Sequence[Write], sizes: Sequence[int], base: int, max_writes: int, max_bytes: int
) -> list[tuple[Write, ...]]:
    calls: list[tuple[Write, ...]] = []
    current: list[Write] = []
    size = base
    for write, write_size in zip(group, sizes, strict=True):
        if base + write_size > max_bytes:
            raise ConfigError(f"a write of {write_size} bytes cannot fit any call", uri=write.uri)
        if len(current) + 1 > max_writes or size + write_size > max_bytes:
            calls.append(tuple(current))
            current, size = [], base
        current.append(write)
        size += write_size
    if current:
        calls.append(tuple(current))
    return calls
