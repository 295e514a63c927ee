"""The atproto Merkle Search Tree: node codec, bulk build, edits, verified walks, diff.

One implementation serves verification (fetch), storage (repo) and publish; root CIDs
are exactly the network's (checked against Bluesky's interop vectors and the reference
TypeScript implementation). Modules, each depending only on those above it::

    keys      layer of a key, key syntax
    node      one node: immutable value, strict canonical codec
    check     a node against its slot: layer and key range
    loader    nodes by CID through a block getter, hash-checked
    span      which subtree slots can hold keys of interest
    build     whole tree from sorted pairs (one pass)
    walk      verified in-order walk, node walk, lookup
    edit      put / delete / get on an existing tree (copy-on-write)
    partial   level-by-level verified walk the caller feeds (partial sync)
    diff      record-level diff reading only differing nodes
"""

from lairs_etl.atproto.mst.build import BuiltTree, build
from lairs_etl.atproto.mst.diff import Change, diff
from lairs_etl.atproto.mst.edit import MstEditor
from lairs_etl.atproto.mst.keys import MAX_KEY_LENGTH, check_key, is_valid_key, key_layer
from lairs_etl.atproto.mst.loader import BlockGetter, NodeLoader
from lairs_etl.atproto.mst.node import EMPTY_ROOT, Node
from lairs_etl.atproto.mst.partial import TreeWalk
from lairs_etl.atproto.mst.span import KeySpan
from lairs_etl.atproto.mst.walk import lookup, walk_leaves, walk_nodes

__all__ = [
    "EMPTY_ROOT",
    "MAX_KEY_LENGTH",
    "BlockGetter",
    "BuiltTree",
    "Change",
    "KeySpan",
    "MstEditor",
    "Node",
    "NodeLoader",
    "TreeWalk",
    "build",
    "check_key",
    "diff",
    "is_valid_key",
    "key_layer",
    "lookup",
    "walk_leaves",
    "walk_nodes",
]
