"""After a publish: record in the local repository which PDS commit matches the revision.

The actor's state gains the PDS commit and rev (its records and tree are unchanged),
so the next pull sees the PDS head it already has and does nothing. The new commit
goes on the branch the revision names, or on the default branch when the revision is
a tag or CID that is that branch's head; only if the branch still points at the
published revision, since otherwise the PDS commit would not match the branch.
"""

from __future__ import annotations

import datetime as dt

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import Did
from lairs_etl.errors import RefConflictError
from lairs_etl.repo.repository import Repository
from lairs_etl.repo.stage import Provenance

__all__ = ["record_published"]

AUTHOR = "lairs-etl publish"


def record_published(
    repo: Repository, rev: str, published: Cid, did: str, *, pds_commit: Cid, pds_rev: str
) -> tuple[Cid | None, str | None]:
    """Commit the PDS commit into ``did``'s provenance; returns (commit, note why not).

    Raises:
        RepositoryError: the backend failed.
    """
    state = repo.actors(published).get(Did(did))
    if state is None:
        return None, "the revision has no state for this actor"
    if state.pds_commit == pds_commit and state.pds_rev == pds_rev:
        return published, None
    if rev in repo.branches():
        branch = rev
    elif repo.head() == published:
        branch = repo.default_branch
    else:
        return None, f"no branch points at {published.encode()}; the PDS commit is in the report only"
    repo.stage(
        did,
        [],
        replace=False,
        provenance=Provenance(
            fetched_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            lexicon_hash=state.lexicon_hash,
            pds_commit=pds_commit,
            pds_rev=pds_rev,
            valid_count=state.valid_count,
            invalid_count=state.invalid_count,
        ),
    )
    try:
        commit = repo.commit(
            f"publish {did}: PDS rev {pds_rev}", AUTHOR, branch=branch, expected_head=published
        )
    except RefConflictError:
        repo.discard()
        return None, f"branch {branch} moved past {published.encode()} during the publish"
    return commit, None
