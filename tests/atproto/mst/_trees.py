"""Shared strategies and tree surgery for the MST tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw

INTEROP = json.loads((Path(__file__).parent / "data" / "interop.json").read_text())
LEAF = Cid.decode(INTEROP["leaf_value"])

# A mix of pub.layers.* and other collections, so prefix pruning has something to prune.
COLLECTIONS = [
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "pub.layers.annotation.annotationLayer",
    "pub.layers.expression.expression",
    "pub.layers.segmentation.segmentation",
    "zz.other.thing",
]
DEEP_KEY = "app.bsky.feed.post/9adeb165882c"  # layer 8 (interop vector): forces a deep tree

keys_st = st.builds(
    lambda c, r: f"{c}/{r}",
    st.sampled_from(COLLECTIONS),
    st.text(alphabet="234567abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=13),
)
values_st = st.builds(lambda b: cid_for_raw(bytes(b)), st.binary(min_size=0, max_size=4))
mappings_st = st.dictionaries(keys_st, values_st, max_size=80)


def value_for(i: int) -> Cid:
    return cid_for_dag_cbor(cbor.encode({"i": i}))


def node_cids(blocks: dict[Cid, bytes], root: Cid) -> list[Cid]:
    """Every node reachable from ``root``, parents first (raw, no checks)."""
    out, todo = [], [root]
    while todo:
        cid = todo.pop()
        out.append(cid)
        raw = cbor.decode(blocks[cid])
        todo.extend(t for t in [raw["l"], *(e["t"] for e in raw["e"])] if t is not None)
    return out


def replace_node(blocks: dict[Cid, bytes], root: Cid, target: Cid, raw: Any) -> Cid:
    """Store ``raw`` (a node in wire form) in place of ``target`` and rehash the path to
    the root; returns the new root. ``blocks`` gains the new blocks."""

    def put(obj: Any) -> Cid:
        data = cbor.encode(obj)
        cid = cid_for_dag_cbor(data)
        blocks[cid] = data
        return cid

    def visit(cid: Cid) -> Cid:
        if cid == target:
            return put(raw)
        node = cbor.decode(blocks[cid])
        changed = False
        if node["l"] is not None:
            new = visit(node["l"])
            changed |= new != node["l"]
            node["l"] = new
        for entry in node["e"]:
            if entry["t"] is not None:
                new = visit(entry["t"])
                changed |= new != entry["t"]
                entry["t"] = new
        return put(node) if changed else cid

    return visit(root)


def wire(blocks: dict[Cid, bytes], cid: Cid) -> Any:
    return cbor.decode(blocks[cid])


def full_keys(raw: Any) -> list[bytes]:
    keys, prev = [], b""
    for e in raw["e"]:
        prev = prev[: e["p"]] + e["k"]
        keys.append(prev)
    return keys


def compress(keys: list[bytes], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-encode entries' keys with (possibly wrong) prefix compression recomputed."""
    out, prev = [], b""
    for key, e in zip(keys, entries, strict=True):
        p = 0
        while p < min(len(prev), len(key)) and prev[p] == key[p]:
            p += 1
        out.append({**e, "k": key[p:], "p": p})
        prev = key
    return out
