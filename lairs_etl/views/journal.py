"""Which writes of a lake are under way, so one that died mid-commit is noticed and repaired.

A write registers its files table by table (one Iceberg commit each) and writes the
manifest last. A writer killed between the first commit and the manifest leaves tables
that hold its rows beside a manifest that does not: a later write that trusted the
manifest would skip those tables as unchanged, tag them as the older commit, or read
files that expiry has since removed. So each write leaves a marker in
``<lake>/_lairs_writes/`` (``<host>-<pid>-<random>.json``: commit, host, pid, start)
for the length of its commits and removes it after the manifest; a marker whose writer
is gone (its process no longer runs on this host, or the marker is older than
:data:`STALE_AFTER`, which also covers a pid reused since) is an *interrupted* write.
The next write then rewrites every actor and commits every table whatever the manifest
says, which brings tables, manifest and files back into agreement, and removes the
markers it repaired; tags wait until then.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import fsspec

from lairs_etl.views.writer import replace_file, storage_errors

__all__ = [
    "STALE_AFTER",
    "WRITES_DIR",
    "Interrupted",
    "begin_write",
    "end_write",
    "interrupted_writes",
    "writing",
]

WRITES_DIR = "_lairs_writes"
STALE_AFTER = dt.timedelta(hours=6)
"""A marker of another host's writer this old is taken for a dead writer's."""
_ACTIVE: set[str] = set()
"""This process's writes under way (a marker of this process not here: a write that raised)."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A write that began and never finished: its marker and the commit it was writing."""

    path: str
    commit: str


def begin_write(fs: fsspec.AbstractFileSystem, root: str, commit: str, now: dt.datetime | None = None) -> str:
    """Leave this process's marker for a write of ``commit``; its path, for :func:`end_write`."""
    host, pid = socket.gethostname(), os.getpid()
    path = f"{root}/{WRITES_DIR}/{_safe(host)}-{pid}-{secrets.token_hex(4)}.json"
    started = (now or dt.datetime.now(dt.UTC)).isoformat()
    doc = {"commit": commit, "host": host, "pid": pid, "started": started}
    replace_file(fs, path, (json.dumps(doc, sort_keys=True) + "\n").encode())
    _ACTIVE.add(path)
    return path


@contextmanager
def writing(fs: fsspec.AbstractFileSystem, root: str, commit: str) -> Iterator[str]:
    """:func:`begin_write` around a write's commits; a write that raises stays interrupted.

    Its marker is left on storage and no longer counted as under way, so the next write
    (in this process too) repairs what it left; the caller ends a write that succeeded.
    """
    marker = begin_write(fs, root, commit)
    try:
        yield marker
    except BaseException:
        _ACTIVE.discard(marker)
        raise


def end_write(fs: fsspec.AbstractFileSystem, paths: list[str]) -> None:
    """Remove markers: this write's, and the interrupted ones it repaired."""
    for path in paths:
        _ACTIVE.discard(path)
        with storage_errors(f"cannot remove {path}"), contextlib.suppress(FileNotFoundError):
            fs.rm_file(path)  # gone: another writer repaired it too


def interrupted_writes(
    fs: fsspec.AbstractFileSystem, root: str, now: dt.datetime | None = None
) -> list[Interrupted]:
    """The markers of writes whose writer is gone (see the module docstring).

    A marker that cannot be read (cut short by the kill itself) counts as interrupted.
    """
    now = now or dt.datetime.now(dt.UTC)
    found: list[Interrupted] = []
    with storage_errors(f"cannot list {root}/{WRITES_DIR}"):
        paths = sorted(fs.glob(f"{root}/{WRITES_DIR}/*.json"))
        for path in paths:
            try:
                doc = json.loads(fs.cat_file(path))
                commit, host, pid = str(doc["commit"]), str(doc["host"]), int(doc["pid"])
                started = dt.datetime.fromisoformat(str(doc["started"]))
            except FileNotFoundError:
                continue  # its writer finished meanwhile
            except (ValueError, KeyError, TypeError):
                found.append(Interrupted(path, ""))
                continue
            if path not in _ACTIVE and not _alive(host, pid, started, now):
                found.append(Interrupted(path, commit))
    return found


def _alive(host: str, pid: int, started: dt.datetime, now: dt.datetime) -> bool:
    if now - started >= STALE_AFTER:
        return False  # on this host too: a pid may have been reused since
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return False  # this process, not writing it now: that write raised
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True


def _safe(host: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in host)[:64] or "host"
