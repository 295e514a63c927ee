"""Pack a plan's ordered groups into ``applyWrites`` calls under the PDS's two caps.

The reference PDS refuses more than 200 writes per call and request bodies over
1,000,000 bytes (413). Groups are packed greedily in order, so the order survives and
the number of calls is ⌈N/200⌉ unless the byte cap forces more. A group (a reference
cycle) is never split across calls when it fits in one; a cycle too large for any
single call is split, and reported, because no atomic commit could hold it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from lairs_etl.errors import ConfigError
from lairs_etl.publish.plan import Write

__all__ = ["MAX_BODY_BYTES", "MAX_WRITES", "Batching", "pack_calls"]

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
    max_writes: int = MAX_WRITES,
    max_bytes: int = MAX_BODY_BYTES,
) -> Batching:
    """Greedy packing of ``groups`` into calls of at most ``max_writes`` and ``max_bytes``.

    Raises:
        ConfigError: a single write is larger than a whole call may be.
    """
    base = _envelope(did)
    calls: list[tuple[Write, ...]] = []
    current: list[Write] = []
    size = base
    split = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            calls.append(tuple(current))
        current, size = [], base

    for group in groups:
        sizes = [w.json_size() + 1 for w in group]  # +1: the comma between entries
        total = sum(sizes)
        if len(group) > max_writes or base + total > max_bytes:
            split += 1
            flush()
            for write, write_size in zip(group, sizes, strict=True):
                if base + write_size > max_bytes:
                    raise ConfigError(f"a write of {write_size} bytes cannot fit any call", uri=write.uri)
                if len(current) + 1 > max_writes or size + write_size > max_bytes:
                    flush()
                current.append(write)
                size += write_size
            continue
        if len(current) + len(group) > max_writes or size + total > max_bytes:
            flush()
        current.extend(group)
        size += total
    flush()
    return Batching(tuple(calls), split)
