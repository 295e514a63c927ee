"""Refs: branches (``heads``) and tags (``tags``), each naming a commit and its packset.

A ref is the only mutable object in a repository, and moving it is the commit point:
a commit writes its pack, index and packset first and moves the ref last with
:meth:`Refs.set`, a compare-and-swap against the value the writer started from.
Of two writers racing from the same value one wins; the other gets
:class:`RefConflictError` (``ref``, ``expected``, ``actual`` as commit CIDs) and can
rebuild on top of ``actual``. A ref stores the packset as well as the commit because
the commit block lives inside a pack: without the packset no one could find it.

Anything under ``refs/`` whose name is not a valid ref (a ``.DS_Store``, an editor's
backup, a file copied in by hand) is a *stray*: listings skip it and
:meth:`Refs.strays` names it, so ``fsck`` and ``gc`` report it and carry on.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import CodecError, ConfigError, NotFoundError, RefConflictError, RepositoryCorruptError
from lairs_etl.repo.layout import REFS, RefKind, check_ref_name, ref_key
from lairs_etl.repo.storage import Storage

__all__ = ["RefValue", "Refs"]


@dataclass(frozen=True, slots=True)
class RefValue:
    """What a ref points at: a commit, and the packset that holds it and its history."""

    commit: Cid
    packset: str

    def encode(self) -> bytes:
        """Canonical DAG-CBOR, so equal values are equal bytes (the swap compares bytes)."""
        return cbor.encode({"commit": self.commit, "packset": self.packset})

    @classmethod
    def decode(cls, data: bytes, *, ref: str = "") -> RefValue:
        """Parse a stored ref.

        Raises:
            RepositoryCorruptError: the bytes are not a ref.
        """
        try:
            raw = cbor.decode(data)
            commit, packset = raw["commit"], raw["packset"]
        except (CodecError, KeyError, TypeError) as exc:
            raise RepositoryCorruptError(f"ref {ref} does not parse") from exc
        if not isinstance(commit, Cid) or not isinstance(packset, str):
            raise RepositoryCorruptError(f"ref {ref} does not parse")
        return cls(commit, packset)


def _is_ref_key(key: str) -> bool:
    kind, _, name = key[len(REFS) + 1 :].partition("/")
    return kind in ("heads", "tags") and _is_ref_name(name)


def _is_ref_name(name: str) -> bool:
    try:
        check_ref_name(name)
    except ConfigError:
        return False
    return True


def _shown(value: RefValue | None) -> str | None:
    return None if value is None else value.commit.encode()


class Refs:
    """Branches and tags of one repository.

    Contract: :meth:`get` of a missing ref raises :class:`NotFoundError`; :meth:`set`
    moves a ref only from the value the caller expects (``None``: the ref must not
    exist) and raises :class:`RefConflictError` otherwise, never losing either commit.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def find(self, kind: RefKind, name: str) -> RefValue | None:
        """The ref's value, or ``None`` if there is no such ref."""
        key = ref_key(kind, name)
        try:
            data = self.storage.get(key)
        except NotFoundError:
            return None
        return RefValue.decode(data, ref=f"{kind}/{name}")

    def get(self, kind: RefKind, name: str) -> RefValue:
        """The ref's value.

        Raises:
            NotFoundError: there is no such ref.
            RepositoryCorruptError: the stored ref does not parse.
        """
        value = self.find(kind, name)
        if value is None:
            raise NotFoundError(f"no {'branch' if kind == 'heads' else 'tag'} {name!r}")
        return value

    def list(self, kind: RefKind) -> dict[str, RefValue]:
        """Every ref of a kind, by name (one listing request plus one read per ref).

        Strays (keys that are not valid ref names) are skipped: see :meth:`strays`.
        """
        prefix = f"{REFS}/{kind}/"
        out: dict[str, RefValue] = {}
        for obj in self.storage.list(prefix):
            name = obj.key[len(prefix) :]
            if not _is_ref_name(name):
                continue
            value = self.find(kind, name)
            if value is not None:  # deleted between listing and reading
                out[name] = value
        return out

    def strays(self) -> builtins.list[str]:
        """Keys under ``refs/`` that are not a branch or tag with a valid name, sorted."""
        return [obj.key for obj in self.storage.list(f"{REFS}/") if not _is_ref_key(obj.key)]

    def set(self, kind: RefKind, name: str, new: RefValue, *, expected: RefValue | None) -> None:
        """Point the ref at ``new`` if it still points at ``expected``.

        Raises:
            RefConflictError: the ref holds something else (re-read it and retry).
            RepositoryError: the backend failed.
        """
        self._swap(kind, name, expected, new)

    def delete(self, kind: RefKind, name: str, *, expected: RefValue) -> None:
        """Remove the ref if it still points at ``expected``.

        Raises:
            RefConflictError: the ref holds something else or is gone.
        """
        self._swap(kind, name, expected, None)

    def _swap(self, kind: RefKind, name: str, expected: RefValue | None, new: RefValue | None) -> None:
        key = ref_key(kind, name)
        try:
            self.storage.swap(
                key,
                None if expected is None else expected.encode(),
                None if new is None else new.encode(),
            )
        except RefConflictError as exc:
            actual = self.find(kind, name)
            raise RefConflictError(
                f"{kind}/{name} moved: expected {_shown(expected)}, found {_shown(actual)}",
                ref=f"{kind}/{name}", expected=_shown(expected), actual=_shown(actual),
            ) from exc
