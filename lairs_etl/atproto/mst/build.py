"""Bulk build: a whole tree from sorted ``(key, value CID)`` pairs in one pass.

The builder streams: it keeps one open node per layer and, when a key of layer ``h``
arrives, closes the open nodes of every layer below ``h`` bottom-up, each closed node's
CID becoming the right subtree of the node above. Every node is therefore encoded
exactly once and the work is linear in the number of keys, which is what makes this
path an order of magnitude faster than inserting keys one at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.keys import check_key, common_prefix_len
from lairs_etl.atproto.mst.node import EMPTY_ROOT, Node
from lairs_etl.errors import ConfigError

__all__ = ["BuiltTree", "build"]

_DAG_CBOR_PREFIX = Cid.CIDV1_DAG_CBOR_SHA256_32_PFX
_sha256 = hashlib.sha256
# Fixed node shape (bytes, ints, CIDs, None): see node.py on why the checks are skipped.
_encode_known_shape: Callable[[Any], bytes] = cbor.encode_unchecked


@dataclass(frozen=True, slots=True)
class BuiltTree:
    """A freshly built tree: its root and every node block it consists of."""

    root: Cid
    blocks: dict[Cid, bytes]


class _Open:
    """The node being filled on one layer: ``left`` link, wire entries, last key."""

    __slots__ = ("entries", "last", "left")

    def __init__(self) -> None:
        self.left: Cid | None = None
        self.entries: list[dict[str, object]] = []
        self.last = b""


def build(pairs: Iterable[tuple[str, Cid]]) -> BuiltTree:
    """Build the MST holding exactly ``pairs``, which must be sorted by key, keys unique.

    Raises:
        InvalidIdentifier: a key is not a valid ``collection/rkey`` path.
        ConfigError: keys out of order or repeated, or a value that is not a ``Cid``.
    """
    blocks: dict[Cid, bytes] = {}
    stack: list[_Open] = []
    prev = ""

    def close(node: _Open, carry: Cid | None) -> Cid | None:
        # ``carry`` is the closed layer below: it goes to the node's rightmost slot.
        if node.entries:
            node.entries[-1]["t"] = carry
        elif carry is None:
            return None  # nothing on this layer or below since the last close
        else:
            node.left = carry
        data = _encode_known_shape({"e": node.entries, "l": node.left})
        cid = Cid(_DAG_CBOR_PREFIX + _sha256(data).digest())
        blocks[cid] = data
        node.__init__()  # type: ignore[misc]  # reset in place: cheaper than a new object
        return cid

    for key, value in pairs:
        raw = check_key(key).encode()
        if key <= prev:
            raise ConfigError(f"MST build needs sorted, unique keys: {key!r} after {prev!r}")
        if not isinstance(value, Cid):
            raise ConfigError(f"MST value for {key!r} is not a Cid: {value!r:.80}")
        layer = (256 - int.from_bytes(_sha256(raw).digest(), "big").bit_length()) >> 1
        while len(stack) <= layer:
            stack.append(_Open())
        carry: Cid | None = None
        if layer:  # a key above layer 0 ends the open nodes of every layer below it
            for below in stack[:layer]:
                carry = close(below, carry)
        node = stack[layer]
        if carry is not None:
            if node.entries:
                node.entries[-1]["t"] = carry
            else:
                node.left = carry
        p = common_prefix_len(node.last, raw)
        node.entries.append({"k": raw[p:], "p": p, "t": None, "v": value})
        node.last = raw
        prev = key

    if not stack:
        blocks[EMPTY_ROOT] = Node.empty().encode()
        return BuiltTree(EMPTY_ROOT, blocks)
    carry = None
    for node in stack:
        carry = close(node, carry)
    assert carry is not None  # the top layer holds at least one key
    return BuiltTree(carry, blocks)
