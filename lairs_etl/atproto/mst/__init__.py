"""The atproto Merkle Search Tree: node codec, bulk build, edits, verified walks, diff.

One implementation serves verification (fetch), storage (repo) and publish; root CIDs
are exactly the network's (checked against Bluesky's interop vectors). Modules, in the
direction they depend on each other::

    keys → node → check → loader → build | edit | walk | partial | diff
                          span ↗
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
