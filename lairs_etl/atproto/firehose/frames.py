"""``com.atproto.sync.subscribeRepos`` frames, decoded strictly into typed events.

A frame is one binary websocket message: a DAG-CBOR header (``op`` 1 and ``t`` the
event type, or ``op`` -1 for an error that ends the stream) followed by a DAG-CBOR body.
Both go through the bounded decoder (size, depth, canonical form), and each body is
checked against the fields its type needs: a frame that cannot be trusted to mean one
thing is refused here with :class:`~lairs_etl.errors.FrameError`, before any
verification looks at it. Unknown event types decode to :class:`UnknownEvent` (the
protocol may grow; a consumer skips what it does not know, as the spec asks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import Did, is_did
from lairs_etl.errors import CodecError, FrameError

__all__ = [
    "MAX_FRAME_BYTES",
    "AccountEvent",
    "CommitEvent",
    "ErrorFrame",
    "Event",
    "IdentityEvent",
    "InfoEvent",
    "RepoOp",
    "SyncEvent",
    "UnknownEvent",
    "decode_frame",
]

MAX_FRAME_BYTES = 5 * 1024 * 1024
"""Largest frame accepted. Producers cap a commit's blocks near 2 MB and its ops at 200."""

Action = Literal["create", "update", "delete"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RepoOp:
    """One write of a commit.

    ``path`` is ``collection/rkey``; ``cid`` the new record (None for a delete), ``prev``
    the record it replaced (Sync 1.1; None for a create).
    """

    action: Action
    path: str
    cid: Cid | None
    prev: Cid | None


@dataclass(frozen=True, slots=True)
class CommitEvent:
    """``#commit``: one signed commit of ``repo`` with the blocks that prove its ops."""

    seq: int
    repo: Did
    rev: str
    since: str | None
    commit: Cid
    blocks: bytes = field(repr=False)
    ops: tuple[RepoOp, ...]
    prev_data: Cid | None
    too_big: bool
    time: str


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """``#sync``: the account's repository is now at this signed commit (no ops): reset."""

    seq: int
    did: Did
    rev: str
    blocks: bytes = field(repr=False)
    time: str


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """``#identity``: the DID document or handle may have changed; cached keys are stale."""

    seq: int
    did: Did
    handle: str | None
    time: str


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """``#account``: hosting status.

    ``active`` False comes with a ``status``: deactivated, deleted, takendown, suspended …
    """

    seq: int
    did: Did
    active: bool
    status: str | None
    time: str


@dataclass(frozen=True, slots=True)
class InfoEvent:
    """``#info``: a notice, e.g. ``OutdatedCursor``.

    ``OutdatedCursor``: the cursor was older than the producer's window, so events may
    have been missed.
    """

    name: str
    message: str | None


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """``op`` -1: the producer ends the stream (``FutureCursor``, ``ConsumerTooSlow`` …)."""

    error: str
    message: str | None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event type this version does not know; carries its ``seq`` when it has one."""

    type: str
    seq: int | None


Event = CommitEvent | SyncEvent | IdentityEvent | AccountEvent | InfoEvent | ErrorFrame | UnknownEvent


def decode_frame(data: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Event:
    """Decode one frame.

    Raises:
        FrameError: not two DAG-CBOR values within ``max_bytes``, an unknown ``op``, or a
            body without the fields (of the types) its event type needs.
    """
    try:
        header, body = cbor.decode_pair(data, max_size=max_bytes)
    except CodecError as exc:
        raise FrameError(f"undecodable frame: {exc.message}") from exc
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise FrameError("frame header and body must be maps")
    op = header.get("op")
    if op == -1:
        return ErrorFrame(_str(body, "error"), _opt_str(body, "message"))
    kind = header.get("t")
    if op != 1 or not isinstance(kind, str):
        raise FrameError(f"frame header has op {op!r} and type {kind!r}")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        seq = body.get("seq")
        return UnknownEvent(kind, seq if type(seq) is int else None)
    return decoder(body)


def _commit(body: Mapping[str, object]) -> CommitEvent:
    raw_ops = body.get("ops")
    if not isinstance(raw_ops, list):
        raise FrameError("#commit without an ops list")
    return CommitEvent(
        seq=_int(body, "seq"),
        repo=_did(body, "repo"),
        rev=_str(body, "rev"),
        since=_opt_str(body, "since"),
        commit=_cid(body, "commit"),
        blocks=_bytes(body, "blocks"),
        ops=tuple(_op(raw) for raw in raw_ops),
        prev_data=_opt_cid(body, "prevData"),
        too_big=body.get("tooBig") is True,
        time=_str(body, "time"),
    )


def _op(raw: object) -> RepoOp:
    if not isinstance(raw, dict):
        raise FrameError("#commit op is not a map")
    action = raw.get("action")
    if action not in ("create", "update", "delete"):
        raise FrameError(f"#commit op has action {action!r}")
    op = RepoOp(action, _str(raw, "path"), _opt_cid(raw, "cid"), _opt_cid(raw, "prev"))
    if (op.cid is None) != (action == "delete"):
        raise FrameError(f"#commit {action} op on {op.path!r} {'has' if op.cid else 'lacks'} a record CID")
    return op


def _sync(body: Mapping[str, object]) -> SyncEvent:
    return SyncEvent(
        _int(body, "seq"), _did(body, "did"), _str(body, "rev"), _bytes(body, "blocks"), _str(body, "time")
    )


def _identity(body: Mapping[str, object]) -> IdentityEvent:
    return IdentityEvent(_int(body, "seq"), _did(body, "did"), _opt_str(body, "handle"), _str(body, "time"))


def _account(body: Mapping[str, object]) -> AccountEvent:
    active = body.get("active")
    if type(active) is not bool:
        raise FrameError("#account without a boolean 'active'")
    return AccountEvent(
        _int(body, "seq"), _did(body, "did"), active, _opt_str(body, "status"), _str(body, "time")
    )


def _info(body: Mapping[str, object]) -> InfoEvent:
    return InfoEvent(_str(body, "name"), _opt_str(body, "message"))


_DECODERS: dict[str, Callable[[Mapping[str, object]], Event]] = {
    "#commit": _commit,
    "#sync": _sync,
    "#identity": _identity,
    "#account": _account,
    "#info": _info,
}


def _int(body: Mapping[str, object], name: str) -> int:
    value = body.get(name)
    if type(value) is not int or value < 0:
        raise FrameError(f"frame field {name!r} must be a non-negative integer")
    return value


def _field(body: Mapping[str, object], name: str, kind: type[_T], what: str) -> _T:
    value = body.get(name)
    if not isinstance(value, kind):
        raise FrameError(f"frame field {name!r} must be {what}")
    return value


def _optional(body: Mapping[str, object], name: str, kind: type[_T], what: str) -> _T | None:
    return None if body.get(name) is None else _field(body, name, kind, f"{what} or absent")


def _str(body: Mapping[str, object], name: str) -> str:
    return _field(body, name, str, "a string")


def _opt_str(body: Mapping[str, object], name: str) -> str | None:
    return _optional(body, name, str, "a string")


def _did(body: Mapping[str, object], name: str) -> Did:
    value = _str(body, name)
    if not is_did(value):
        raise FrameError(f"frame field {name!r} is not a DID: {value!r:.80}")
    return Did(value)


def _cid(body: Mapping[str, object], name: str) -> Cid:
    return _field(body, name, Cid, "a CID link")


def _opt_cid(body: Mapping[str, object], name: str) -> Cid | None:
    return _optional(body, name, Cid, "a CID link")


def _bytes(body: Mapping[str, object], name: str) -> bytes:
    return _field(body, name, bytes, "bytes")
