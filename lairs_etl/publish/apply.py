"""Run a plan's calls: ``applyWrites`` chained by ``swapCommit``, every result checked.

Each call swaps on the commit the previous one produced (the first on the plan's base
commit), so a write by anyone else at any point makes the PDS answer ``InvalidSwap``
and nothing is overwritten: :class:`~lairs_etl.errors.SwapConflictError` tells the
caller to re-plan. The calls are safe to retry for the same reason (a repeated call
that had landed meets a moved commit), hence ``idempotent=True`` for the client's
retries. Each write's result must name the expected URI and CID; what landed is kept
in :class:`Progress` so a failure can say exactly how far the publish got.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import CodecError, PublishError, RateLimitedError, SwapConflictError, TransportError
from lairs_etl.publish.plan import Action, Write
from lairs_etl.publish.session import Session

__all__ = ["APPLY_WRITES", "Progress", "WriteResult", "apply_calls"]

APPLY_WRITES = "com.atproto.repo.applyWrites"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One write the PDS confirmed: what, where, and the CID it now holds (None: deleted)."""

    action: Action
    uri: AtUri
    cid: Cid | None

    def to_json(self) -> dict[str, str | None]:
        """JSON-ready form."""
        return {
            "action": self.action,
            "uri": str(self.uri),
            "cid": None if self.cid is None else self.cid.encode(),
        }


@dataclass(slots=True)
class Progress:
    """What has landed so far across calls (and re-plans) of one publish."""

    landed: list[WriteResult] = field(default_factory=list)
    calls: int = 0
    commit: Cid | None = None
    rev: str | None = None


def apply_calls(
    session: Session,
    calls: Sequence[Sequence[Write]],
    base_commit: Cid,
    progress: Progress,
    *,
    on_call: Callable[[Progress], None] | None = None,
) -> None:
    """Make the calls in order, each swapping on the previous commit.

    Raises:
        SwapConflictError: the PDS moved since the plan (or since the last call).
        RateLimitedError: the PDS kept answering 429 past the client's wait budget.
        PublishError: a call failed or a result did not match; ``landed`` lists what did.
    """
    swap = base_commit
    for writes in calls:
        body: JsonValue = {
            "repo": str(session.did),
            "writes": [w.to_json() for w in writes],
            "swapCommit": swap.encode(),
        }
        try:
            answer = session.procedure(APPLY_WRITES, body, idempotent=True)
        except RateLimitedError:
            raise
        except TransportError as exc:
            if getattr(exc, "error", None) == "InvalidSwap":
                raise SwapConflictError(
                    "the PDS repository changed since the plan",
                    actor=session.did,
                    landed=tuple(progress.landed),
                ) from exc
            raise PublishError(
                f"applyWrites failed after {len(progress.landed)} writes landed: {exc}",
                actor=session.did,
                landed=tuple(progress.landed),
            ) from exc
        swap, rev = _commit(answer)
        results, problem = _results(writes, answer)
        progress.landed.extend(results)
        progress.calls += 1
        progress.commit, progress.rev = swap, rev
        if problem is not None or len(results) != len(writes):
            raise PublishError(
                problem or f"applyWrites confirmed {len(results)} of {len(writes)} writes",
                actor=session.did,
                landed=tuple(progress.landed),
            )
        if on_call is not None:
            on_call(progress)


def _commit(answer: JsonValue) -> tuple[Cid, str]:
    commit = answer.get("commit") if isinstance(answer, dict) else None
    if isinstance(commit, dict) and isinstance(commit.get("cid"), str) and isinstance(commit.get("rev"), str):
        try:
            return parse_cid(str(commit["cid"])), str(commit["rev"])
        except CodecError as exc:
            raise PublishError("applyWrites answered a malformed commit CID") from exc
    raise PublishError("applyWrites answered without a commit")


def _results(writes: Sequence[Write], answer: JsonValue) -> tuple[list[WriteResult], str | None]:
    """The confirmed results up to the first that does not match its write, and why not."""
    raw = answer.get("results") if isinstance(answer, dict) else None
    out: list[WriteResult] = []
    for write, result in zip(writes, raw if isinstance(raw, list) else [], strict=False):
        if write.action == "delete":
            out.append(WriteResult("delete", write.uri, None))
            continue
        uri = result.get("uri") if isinstance(result, dict) else None
        cid = result.get("cid") if isinstance(result, dict) else None
        if uri != str(write.uri) or write.cid is None or cid != write.cid.encode():
            return out, f"the PDS stored {uri} as {cid}, expected {write.uri} as {write.cid}"
        out.append(WriteResult(write.action, write.uri, write.cid))
    return out, None
