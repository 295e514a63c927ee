"""The reference atproto PDS and PLC directory on loopback, for tests, the demo and benchmarks.

``ensure_node_env()`` installs Node 22 and the JS packages once into a cache;
``LocalPds`` runs them with fresh secrets; ``Account`` writes records as a user.
"""

from lairs_etl.localpds._xrpc import JsonObject
from lairs_etl.localpds.account import MAX_WRITES_PER_CALL, Account, LatestCommit, WrittenRecord, batch_writes
from lairs_etl.localpds.node import NODE_PACKAGES, NodeEnv, cache_root, ensure_node_env
from lairs_etl.localpds.server import LocalPds, free_port

__all__ = [
    "Account",
    "JsonObject",
    "LatestCommit",
    "LocalPds",
    "MAX_WRITES_PER_CALL",
    "NODE_PACKAGES",
    "NodeEnv",
    "WrittenRecord",
    "batch_writes",
    "cache_root",
    "ensure_node_env",
    "free_port",
]
