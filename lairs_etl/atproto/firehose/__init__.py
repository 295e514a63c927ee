"""The firehose (``com.atproto.sync.subscribeRepos``): frames, inductive verification, a client.

Modules, each depending only on those above it::

    frames    one frame → a typed event (bounded, strict)
    verify    a #commit proven from its own blocks (signature, ops, inversion); the chain
    client    a websocket subscription: cursor, reconnect with backoff, bounded buffer

Nothing here keeps per-actor state or writes anything: the sync layer
(:mod:`lairs_etl.sync.follow`) holds each actor's last verified state in the repository.
"""

from lairs_etl.atproto.firehose.frames import (
    MAX_FRAME_BYTES,
    AccountEvent,
    CommitEvent,
    ErrorFrame,
    Event,
    IdentityEvent,
    InfoEvent,
    RepoOp,
    SyncEvent,
    UnknownEvent,
    decode_frame,
)
from lairs_etl.atproto.firehose.verify import (
    MAX_OPS,
    VerifiedCommit,
    VerifiedWrite,
    check_chain,
    invert,
    read_blocks,
    verify_commit_event,
    verify_sync_event,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_OPS",
    "AccountEvent",
    "CommitEvent",
    "ErrorFrame",
    "Event",
    "IdentityEvent",
    "InfoEvent",
    "RepoOp",
    "SyncEvent",
    "UnknownEvent",
    "VerifiedCommit",
    "VerifiedWrite",
    "check_chain",
    "decode_frame",
    "invert",
    "read_blocks",
    "verify_commit_event",
    "verify_sync_event",
]
