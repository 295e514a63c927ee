"""The one error hierarchy of lairs-etl.

Every error the library raises on purpose derives from :class:`LairsError`. The
branches follow what a caller will *do* about the failure, not which module raised it::

    LairsError
    ├── ConfigError                 bad arguments or settings: fix the call
    ├── InvalidIdentifier           a DID, handle, NSID, rkey, TID or AT-URI fails its syntax
    ├── LocalPdsError               the local reference PDS/PLC (tests, demo) failed to start
    ├── LexiconError                lexicon tree missing, unreadable or off its pin
    │   └── LexiconPinMismatch
    ├── RecordValidationError       a record fails its lexicon (raising form, e.g. builders)
    ├── CodecError                  JSON / DAG-CBOR / CAR / CID bytes that cannot be decoded
    │                               within the decoder's limits
    ├── FetchError                  anything that stops a pull from a remote service
    │   ├── IdentityError           handle or DID cannot be resolved or is not trusted
    │   │   ├── DidDocumentError    a DID document is malformed, mismatched or oversized
    │   │   └── UnsafeEndpointError a URL points at a private/loopback/metadata address
    │   └── TransportError          network and HTTP failures
    │       ├── XrpcError           the server answered with an XRPC error body
    │       │   └── RateLimitedError  429 whose wait budget is spent
    │       ├── MalformedResponseError  a 2xx answer that is not what the call returns
    │       ├── LimitExceededError  a configured budget ran out (``limit`` names it)
    │       │   ├── ResponseTooLargeError  too many bytes (one body, or one actor's)
    │       │   └── DeadlineExceededError  too much time (one request, or one actor)
    │       └── RetriesExhaustedError
    ├── VerificationError           data that is not what it claims to be: never trust it
    │   ├── BlockHashMismatch
    │   ├── SignatureError
    │   ├── MstStructureError
    │   ├── CarFormatError
    │   └── RecordCidMismatch
    ├── RepositoryError             the local corpus repository
    │   ├── NotFoundError           no such ref, commit or record
    │   ├── RefConflictError        another writer moved the ref first: retry
    │   └── RepositoryCorruptError  fsck-level damage
    ├── PublishError                writing a revision back to a PDS
    │   └── SwapConflictError       the PDS moved since the plan: re-plan
    ├── ViewsError                  Parquet views or the DuckDB warehouse: build or query failed
    └── UnexpectedError             not a LairsError: a bug, caught where one actor's failure
                                    must not stop the others (``cause`` is the original)

Errors carry structured fields (``actor``, ``uri``, ``cid``, ``status``, ``error``,
``limit``) so callers branch on types and attributes, never on message text.
Third-party exceptions (httpx, fsspec, pydantic, CBOR and JSON libraries) are
translated at the layer boundary with ``raise ... from exc``; where one actor's work
must never stop another's, :func:`as_lairs_error` turns anything else into an
:class:`UnexpectedError` that still names the actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = [
    "BlockHashMismatch",
    "CarFormatError",
    "ChainBreakError",
    "CodecError",
    "CommitProofError",
    "ConfigError",
    "DeadlineExceededError",
    "DidDocumentError",
    "FetchError",
    "FrameError",
    "FutureCursorError",
    "IdentityError",
    "InvalidIdentifier",
    "LairsError",
    "LexiconError",
    "LexiconPinMismatch",
    "LimitExceededError",
    "LocalPdsError",
    "MalformedResponseError",
    "MstStructureError",
    "NotFoundError",
    "PublishError",
    "RateLimitedError",
    "RecordCidMismatch",
    "RecordValidationError",
    "RefConflictError",
    "RepositoryCorruptError",
    "RepositoryError",
    "ResponseTooLargeError",
    "RetriesExhaustedError",
    "SignatureError",
    "StreamError",
    "SwapConflictError",
    "TransportError",
    "UnexpectedError",
    "UnsafeEndpointError",
    "VerificationError",
    "ViewsError",
    "XrpcError",
    "as_lairs_error",
    "isolated",
]

_T = TypeVar("_T")


class LairsError(Exception):
    """Root of every error lairs-etl raises deliberately.

    ``actor`` (a DID or handle), ``uri`` and ``cid`` name the object concerned when
    known, so logs and Dagster metadata can point at it without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        actor: str | None = None,
        uri: str | None = None,
        cid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.actor = actor
        self.uri = uri
        self.cid = cid

    @property
    def type_name(self) -> str:
        """The class name to report (an :class:`UnexpectedError` reports its cause's)."""
        return type(self).__name__

    def __str__(self) -> str:
        parts = [self.message]
        for label, value in (("actor", self.actor), ("uri", self.uri), ("cid", self.cid)):
            if value is not None:
                parts.append(f"{label}={value}")
        return " ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


class ConfigError(LairsError):
    """Arguments or settings that cannot work; nothing was attempted."""


class InvalidIdentifier(LairsError, ValueError):
    """A string does not satisfy the atproto syntax of the identifier it should be."""

    def __init__(self, message: str, *, kind: str, value: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.value = value


class LocalPdsError(LairsError):
    """The local reference PDS or PLC (``lairs_etl.localpds``) did not start or died.

    ``log_tail`` holds the end of the node process's log.
    """

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- node log tail ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail


class LexiconError(LairsError):
    """The lexicon tree is missing, unreadable or inconsistent."""


class LexiconPinMismatch(LexiconError):
    """A lexicon tree's content hash differs from the pinned one."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class RecordValidationError(LairsError, ValueError):
    """A record does not satisfy its lexicon; ``diagnostics`` lists every violation."""

    def __init__(self, message: str, *, diagnostics: object = (), uri: str | None = None) -> None:
        super().__init__(message, uri=uri)
        self.diagnostics = diagnostics


class CodecError(LairsError, ValueError):
    """Bytes that are not valid JSON/DAG-CBOR/CAR/CID, not canonical, or past a decoder limit."""


class FetchError(LairsError):
    """A pull from a remote service could not be completed."""


class IdentityError(FetchError):
    """A handle or DID could not be resolved to a trustworthy identity."""


class DidDocumentError(IdentityError):
    """A DID document that cannot be trusted.

    Not JSON, wrong ``id``, too large, or a missing, duplicate or malformed ``#atproto``
    key or ``#atproto_pds`` service.
    """


class UnsafeEndpointError(IdentityError):
    """A URL points at a private, loopback, link-local or metadata address, or is not http(s).

    Such URLs are refused because a hostile DID document could otherwise aim our
    fetches at internal services; ``allow_private_hosts`` permits them for local work.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class TransportError(FetchError):
    """The network or HTTP exchange failed."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        actor: str | None = None,
    ) -> None:
        super().__init__(message, actor=actor)
        self.url = url
        self.status = status


class XrpcError(TransportError):
    """The server answered with an XRPC error body.

    ``error`` is the XRPC error name (``RepoNotFound``, ``InvalidSwap`` …): callers
    branch on it, never on the message.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None,
        status: int,
        url: str | None = None,
        actor: str | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status, actor=actor)
        self.error = error


class RateLimitedError(XrpcError):
    """HTTP 429 and the configured wait budget is spent; ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        url: str | None = None,
        actor: str | None = None,
    ) -> None:
        super().__init__(message, error="RateLimitExceeded", status=429, url=url, actor=actor)
        self.retry_after = retry_after


class MalformedResponseError(TransportError):
    """The server answered 2xx with a body that cannot be what the call returns.

    Not JSON within the decoder's limits, the wrong shape, a pagination cursor that
    comes back, a compressed body where none was asked for. Never retried: the same
    server would answer the same.
    """


class LimitExceededError(TransportError):
    """A configured budget ran out; ``limit`` names it (a field of ``FetchLimits``).

    ``value`` is the budget's setting (bytes, seconds, pages). Raise the limit only for
    a peer you trust; a hostile peer is exactly what these budgets stop.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        value: float,
        url: str | None = None,
        actor: str | None = None,
    ) -> None:
        super().__init__(message, url=url, actor=actor)
        self.limit = limit
        self.value = value


class ResponseTooLargeError(LimitExceededError):
    """Too many bytes: one response body (after decompression), or one actor's fetch."""


class DeadlineExceededError(LimitExceededError):
    """Too much time: one request (retries and waits included), or one actor's fetch."""


class RetriesExhaustedError(TransportError):
    """Connection errors or 5xx kept coming after every retry."""


class StreamError(TransportError):
    """An event stream (the firehose) kept failing, or ended with an error we cannot resume from."""


class FutureCursorError(StreamError):
    """The producer does not hold the cursor asked for (``FutureCursor``).

    It was reset, or the cursor is another producer's.
    """


class VerificationError(LairsError):
    """Data failed an integrity or authenticity check; none of it may be used."""


class BlockHashMismatch(VerificationError):
    """A block's bytes do not hash to its CID."""


class SignatureError(VerificationError):
    """A commit signature is missing, malformed, high-S, or not by the actor's key."""


class MstStructureError(VerificationError):
    """A Merkle Search Tree node breaks the spec (order, layers, prefix compression)."""


class CarFormatError(VerificationError):
    """A CAR stream is truncated, malformed or has the wrong root."""


class RecordCidMismatch(VerificationError):
    """A record's DAG-CBOR encoding does not hash to the CID the server reported."""


class FrameError(VerificationError):
    """An event-stream frame is malformed: bad header, unknown shape, missing fields."""


class CommitProofError(VerificationError):
    """A firehose commit's blocks do not prove its ops.

    An op does not match the new tree, a needed block is missing, or undoing the ops
    does not give back ``prevData``.
    """


class ChainBreakError(VerificationError):
    """A firehose commit does not follow the state held for its actor.

    ``reason`` is ``"desynchronized"`` (its ``prevData`` is not the data held: events were
    missed or forged; the actor must be fetched again) or ``"stale"`` (its rev is not
    after the last one accepted: a replay or a duplicate).
    """

    def __init__(self, message: str, *, reason: str, actor: str | None = None) -> None:
        super().__init__(message, actor=actor)
        self.reason = reason


class RepositoryError(LairsError):
    """The local corpus repository refused or failed an operation."""


class NotFoundError(RepositoryError, KeyError):
    """No such ref, commit, actor or record."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return LairsError.__str__(self)


class RefConflictError(RepositoryError):
    """Another writer moved the ref since it was read; re-read and retry."""

    def __init__(self, message: str, *, ref: str, expected: str | None, actual: str | None) -> None:
        super().__init__(message)
        self.ref = ref
        self.expected = expected
        self.actual = actual


class RepositoryCorruptError(RepositoryError):
    """Stored data is damaged: a block, pack, index or tree fails its check."""


class PublishError(LairsError):
    """Publishing a revision to a PDS stopped; ``landed`` lists the writes that did land."""

    def __init__(
        self, message: str, *, actor: str | None = None, landed: Sequence[object] = ()
    ) -> None:
        super().__init__(message, actor=actor)
        self.landed = landed


class SwapConflictError(PublishError):
    """The PDS repository changed between plan and apply (``InvalidSwap``): re-plan."""


class ViewsError(LairsError):
    """Parquet views or the DuckDB warehouse could not be written, read or queried."""


class UnexpectedError(LairsError):
    """An exception that is not a :class:`LairsError` reached an isolation boundary.

    It is a bug (in lairs-etl or a library): the boundary reports it for the actor it
    concerns, with ``cause_type`` naming the original class, and carries on with the
    other actors. The original is the ``__cause__``.
    """

    def __init__(self, message: str, *, cause_type: str, actor: str | None = None) -> None:
        super().__init__(message, actor=actor)
        self.cause_type = cause_type

    @property
    def type_name(self) -> str:
        """The original exception's class name: what actually went wrong."""
        return self.cause_type


def as_lairs_error(exc: Exception, *, actor: str | None = None) -> LairsError:
    """``exc`` as a :class:`LairsError`: itself (its ``actor`` filled in when unset), or wrapped.

    For the places where one actor's failure, whatever its type, must be reported for
    that actor while the others go on (pull, refresh, materialize).
    """
    if isinstance(exc, LairsError):
        if exc.actor is None:
            exc.actor = actor
        return exc
    wrapped = UnexpectedError(
        f"unexpected {type(exc).__name__}: {str(exc)[:500]}", cause_type=type(exc).__name__, actor=actor
    )
    wrapped.__cause__ = exc
    return wrapped


def isolated(work: Callable[[], _T], *, actor: str | None = None) -> _T | LairsError:
    """``work()``, or the error it raised as a :class:`LairsError` (see :func:`as_lairs_error`).

    The one isolation boundary: pull, refresh, materialize, discovery and the change
    sensor run each actor (or host) through it, so one failure of any kind is reported
    for that actor and the loop goes on. ``BaseException`` (Ctrl-C, exit) still stops it.
    """
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - the isolation boundary: any failure belongs to one actor
        return as_lairs_error(exc, actor=actor)
