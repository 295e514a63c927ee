"""Revisions: what a user may name (branch, tag, commit CID or a unique prefix of one).

A ref carries the packset that holds its commit and all of its history, so a branch or
tag resolves to a readable :class:`Snapshot` in two reads. A bare commit CID has no
packset of its own: it is looked up in the packsets of the refs, newest history first,
and a prefix is matched against the commits reachable from every ref.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.errors import CodecError, ConfigError, NotFoundError
from lairs_etl.repo.layout import REF_KINDS, check_ref_name
from lairs_etl.repo.objects import Commit
from lairs_etl.repo.packset import PackSetReader
from lairs_etl.repo.refs import Refs, RefValue
from lairs_etl.repo.storage import Storage

__all__ = ["Snapshot", "iter_history", "read_commit", "resolve_rev"]

_MIN_PREFIX = 6


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A resolved revision: the commit, its CID, and a reader holding its blocks."""

    cid: Cid
    commit: Commit
    reader: PackSetReader


def read_commit(reader: PackSetReader, cid: Cid) -> Commit:
    """The commit ``cid`` from ``reader``.

    Raises:
        NotFoundError: the packset does not hold it.
        RepositoryCorruptError: the block is not a commit.
    """
    return Commit.decode(reader.get(cid))


def iter_history(reader: PackSetReader, head: Cid) -> Iterator[tuple[Cid, Commit]]:
    """Commits from ``head`` back along first parents (commits here have one parent).

    Raises:
        NotFoundError / RepositoryCorruptError: a commit is missing or damaged.
    """
    cid: Cid | None = head
    while cid is not None:
        commit = read_commit(reader, cid)
        yield cid, commit
        cid = commit.parents[0] if commit.parents else None


def _ref_values(refs: Refs) -> list[RefValue]:
    return [value for kind in REF_KINDS for value in refs.list(kind).values()]


def resolve_rev(storage: Storage, rev: str) -> Snapshot:
    """Resolve ``rev``: a branch, then a tag, then a full or unique-prefix commit CID.

    Raises:
        NotFoundError: nothing by that name, or no ref's history holds the commit.
        ConfigError: a prefix that names more than one commit, or is too short.
    """
    refs = Refs(storage)
    value = None
    if _looks_like_ref(rev):
        value = refs.find("heads", rev) or refs.find("tags", rev)
    if value is not None:
        reader = PackSetReader(storage, value.packset)
        return Snapshot(value.commit, read_commit(reader, value.commit), reader)
    try:
        cid = parse_cid(rev)
    except (CodecError, ValueError):
        cid = None
    values = _ref_values(refs)
    if cid is not None:
        for ref in values:
            reader = PackSetReader(storage, ref.packset)
            if reader.has(cid):
                return Snapshot(cid, read_commit(reader, cid), reader)
        raise NotFoundError(f"no commit {rev} in any branch or tag")
    if len(rev) < _MIN_PREFIX or not rev.isalnum():
        raise NotFoundError(f"no branch, tag or commit {rev!r:.80}")
    found: dict[str, Snapshot] = {}
    seen: set[str] = set()
    for ref in values:
        reader = PackSetReader(storage, ref.packset)
        for cid, commit in iter_history(reader, ref.commit):
            text = cid.encode()
            if text in seen:
                break  # the rest of this history was walked through another ref
            seen.add(text)
            if text.startswith(rev):
                found[text] = Snapshot(cid, commit, reader)
    if len(found) > 1:
        raise ConfigError(f"commit prefix {rev!r} is ambiguous: {', '.join(sorted(found))}")
    if not found:
        raise NotFoundError(f"no branch, tag or commit {rev!r:.80}")
    return next(iter(found.values()))


def _looks_like_ref(rev: str) -> bool:
    try:
        check_ref_name(rev)
    except ConfigError:
        return False
    return True
