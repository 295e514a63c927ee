"""Where each object lives in a repository, and the format marker at its top.

::

    repo.json                       {"format": "lairs-etl-repository", "version": 1}
    packs/<sha256>.car              a CARv1 of up to 16 MiB of the blocks a commit added (root: the commit)
    indexes/<sha256>.idx            a multi-pack index segment (CID → pack, offset, length)
    packsets/<sha256>.cbor          the list of index segments covering every block so far
    refs/heads/<name>               a branch: DAG-CBOR {commit, packset}
    refs/tags/<name>                a tag: same shape, never moved once created

Objects under ``packs/``, ``indexes/`` and ``packsets/`` are named by the SHA-256 of
their bytes, so they are immutable, safe to rewrite and self-checking; only refs change.
Ref names follow git's rules closely enough to be safe as object keys on every backend.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from lairs_etl.atproto import jsoncodec
from lairs_etl.errors import ConfigError, NotFoundError, RefConflictError, RepositoryCorruptError
from lairs_etl.repo.storage import Storage

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEXES",
    "PACKS",
    "PACKSETS",
    "REFS",
    "REF_KINDS",
    "REPO_JSON",
    "RefKind",
    "check_ref_name",
    "index_key",
    "init_layout",
    "pack_key",
    "packset_key",
    "read_layout",
    "ref_key",
]

FORMAT_NAME = "lairs-etl-repository"
FORMAT_VERSION = 1
REPO_JSON = "repo.json"

PACKS = "packs"
INDEXES = "indexes"
PACKSETS = "packsets"
REFS = "refs"

RefKind = Literal["heads", "tags"]
REF_KINDS: tuple[RefKind, ...] = ("heads", "tags")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_REF_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+=@-]{0,127}")


def _object_name(name: str) -> str:
    if not _HEX64.fullmatch(name):
        raise ConfigError(f"not an object name (64 hex digits): {name!r:.80}")
    return name


def pack_key(name: str) -> str:
    """Key of the pack named ``name`` (its SHA-256, hex)."""
    return f"{PACKS}/{_object_name(name)}.car"


def index_key(name: str) -> str:
    """Key of the index segment named ``name``."""
    return f"{INDEXES}/{_object_name(name)}.idx"


def packset_key(name: str) -> str:
    """Key of the packset named ``name``."""
    return f"{PACKSETS}/{_object_name(name)}.cbor"


def check_ref_name(name: str) -> str:
    """Validate a branch or tag name (``main``, ``release/2026-11``); return it.

    Allowed: ``/``-separated parts of letters, digits and ``._+=@-``, not starting with
    ``.`` or ``-``, no part ending in ``.lock`` (the local backend's lock files).

    Raises:
        ConfigError: the name is not allowed.
    """
    parts = name.split("/")
    if not name or len(name) > 255 or not all(_REF_PART.fullmatch(p) for p in parts):
        raise ConfigError(f"invalid ref name: {name!r:.80}")
    if any(p.endswith(".lock") or ".." in p for p in parts):
        raise ConfigError(f"invalid ref name: {name!r:.80}")
    return name


def ref_key(kind: RefKind, name: str) -> str:
    """Key of the branch (``heads``) or tag (``tags``) called ``name``."""
    if kind not in ("heads", "tags"):
        raise ConfigError(f"unknown ref kind {kind!r}")
    return f"{REFS}/{kind}/{check_ref_name(name)}"


def init_layout(storage: Storage) -> None:
    """Mark the store as a repository (idempotent for a repository of this version).

    Raises:
        RepositoryCorruptError: something else already lives there.
    """
    marker = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}).encode()
    try:
        storage.swap(REPO_JSON, None, marker)
    except RefConflictError:
        read_layout(storage)  # already there: fine if it is ours, raises otherwise


def read_layout(storage: Storage) -> int:
    """Check the format marker and return the format version.

    Raises:
        NotFoundError: no repository at this location.
        RepositoryCorruptError: the marker is unreadable or from a newer format.
    """
    try:
        raw = storage.get(REPO_JSON)
    except NotFoundError as exc:
        raise NotFoundError(f"no repository at {storage.url}") from exc
    try:
        meta = jsoncodec.decode(raw, max_depth=8)
    except ValueError as exc:
        raise RepositoryCorruptError(f"{REPO_JSON} is not JSON") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise RepositoryCorruptError(f"{storage.url} is not a lairs-etl repository")
    version = meta.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise RepositoryCorruptError(f"unsupported repository format version {version!r}")
    return version
