"""What a publish did (or, in a dry run, would do), for people, the CLI and Dagster."""

from __future__ import annotations

from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import Did
from lairs_etl.publish.apply import WriteResult
from lairs_etl.publish.plan import Plan

__all__ = ["PublishReport", "format_plan"]


@dataclass(frozen=True, slots=True)
class PublishReport:
    """The outcome of one publish.

    ``plan`` is the first plan made (what a dry run shows); ``landed`` every write the
    PDS confirmed, across re-plans; ``pds_commit``/``pds_rev`` the PDS commit that now
    matches the revision (after an apply, or when nothing needed writing);
    ``recorded_commit`` the local commit that records it (``None`` when not recorded,
    ``recorded_note`` says why).
    """

    did: Did
    rev: str
    commit: Cid | None
    plan: Plan
    applied: bool
    landed: tuple[WriteResult, ...] = ()
    calls: int = 0
    split_cycles: int = 0
    blobs_uploaded: tuple[Cid, ...] = ()
    replans: int = 0
    rate_limit_wait_seconds: float = 0.0
    pds_commit: Cid | None = None
    pds_rev: str | None = None
    recorded_commit: Cid | None = None
    recorded_note: str | None = None
    seconds: float = 0.0

    @property
    def writes(self) -> int:
        """How many writes landed."""
        return len(self.landed)

    def summary(self) -> dict[str, object]:
        """A flat, JSON-ready description."""
        return {
            "did": str(self.did),
            "rev": self.rev,
            "commit": None if self.commit is None else self.commit.encode(),
            "applied": self.applied,
            "plan": self.plan.summary(),
            "writes": self.writes,
            "calls": self.calls,
            "split_cycles": self.split_cycles,
            "blobs_uploaded": len(self.blobs_uploaded),
            "replans": self.replans,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
            "pds_commit": None if self.pds_commit is None else self.pds_commit.encode(),
            "pds_rev": self.pds_rev,
            "recorded_commit": None if self.recorded_commit is None else self.recorded_commit.encode(),
            "recorded_note": self.recorded_note,
            "seconds": round(self.seconds, 3),
        }


def format_plan(plan: Plan, *, limit: int | None = 50) -> str:
    """A plan as text: one line per write in order (``limit`` lines at most), then totals."""
    lines: list[str] = []
    shown = 0
    for number, group in enumerate(plan.groups):
        for write in group:
            if limit is not None and shown >= limit:
                break
            cycle = f"  [cycle {number}]" if len(group) > 1 else ""
            cid = "" if write.cid is None else f" {write.cid.encode()}"
            lines.append(f"{write.action:<6} {write.uri}{cid}{cycle}")
            shown += 1
    total = len(plan.writes)
    if shown < total:
        lines.append(f"… and {total - shown} more")
    s = plan.summary()
    lines.append(
        f"{s['creates']} to create, {s['updates']} to update, {s['deletes']} to delete, "
        f"{s['unchanged']} unchanged (PDS at rev {plan.base_rev})"
    )
    return "\n".join(lines)
