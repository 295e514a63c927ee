"""The lexicon tree on disk: where it is, what it contains, and its content hash.

A *tree root* is a directory holding ``pub/layers/**``. Its hash (``tree_sha256``) is
deterministic and independent of file system order, timestamps and permissions:

    sha256 over, for each regular file under ``pub/layers`` sorted by its POSIX path
    relative to the root (compared as UTF-8 bytes):
        path (UTF-8) · 0x00 · decimal byte length (ASCII) · 0x00 · file bytes

Symbolic links and other non-regular files are refused (a copied tree has none).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from lairs_etl.errors import LexiconError

__all__ = [
    "LEXICON_PREFIX",
    "TreeSummary",
    "lexicons_dir",
    "load_documents",
    "summarize_tree",
    "synced_tree",
    "tree_sha256",
]

#: The folder of the Layers lexicons inside a tree root.
LEXICON_PREFIX = "pub/layers"
_ENV_DIR = "LAIRS_ETL_LEXICONS_DIR"


@dataclass(frozen=True, slots=True)
class TreeSummary:
    """Hash and counts of a lexicon tree, as recorded in the pin manifest."""

    sha256: str
    files: int
    lexicon_files: int
    record_types: int
    object_defs: int
    queries: int
    permission_sets: int

    def counts(self) -> dict[str, int]:
        """The counts, keyed as in the manifest."""
        return {
            "files": self.files,
            "lexicon_files": self.lexicon_files,
            "record_types": self.record_types,
            "object_defs": self.object_defs,
            "queries": self.queries,
            "permission_sets": self.permission_sets,
        }


def lexicons_dir() -> Path:
    """The project's ``lexicons/`` folder (pin manifest and ``cache/``).

    ``$LAIRS_ETL_LEXICONS_DIR`` overrides the default, which is ``lexicons/`` next to the
    package in a source checkout.
    """
    override = os.environ.get(_ENV_DIR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "lexicons"


def synced_tree(base: Path | None = None) -> Path:
    """The root of the synced tree (``lexicons/cache``, holding ``pub/layers``).

    Raises:
        LexiconError: nothing has been synced yet (run ``lairs-etl lexicons sync``).
    """
    root = (base or lexicons_dir()) / "cache"
    if not (root / LEXICON_PREFIX).is_dir():
        raise LexiconError(f"no lexicon tree at {root}: run `lairs-etl lexicons sync`")
    return root


def _files(root: Path) -> list[tuple[str, Path]]:
    top = root / LEXICON_PREFIX
    if not top.is_dir():
        raise LexiconError(f"{root} has no {LEXICON_PREFIX} folder")
    found: list[tuple[str, Path]] = []
    for path in top.rglob("*"):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise LexiconError(f"not a regular file in the lexicon tree: {path}")
        if path.is_file():
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found, key=lambda item: item[0].encode())


def tree_sha256(root: Path) -> str:
    """The content hash of the tree under ``root`` (see the module docstring).

    Raises:
        LexiconError: no ``pub/layers`` under ``root``, or a non-regular file in it.
    """
    digest = hashlib.sha256()
    for relative, path in _files(root):
        data = path.read_bytes()
        digest.update(relative.encode() + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


def load_documents(root: Path) -> dict[str, Mapping[str, JsonValue]]:
    """Every lexicon document under ``root``, keyed by its ``id`` (sorted).

    Raises:
        LexiconError: a file is not JSON, has no string ``id``, or repeats an ``id``.
    """
    docs: dict[str, Mapping[str, JsonValue]] = {}
    for relative, path in _files(root):
        if not relative.endswith(".json"):
            continue
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            raise LexiconError(f"{relative} is not valid JSON: {exc}") from exc
        doc_id = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(doc_id, str) or not isinstance(doc.get("defs"), dict):
            raise LexiconError(f"{relative} is not a lexicon document (no id or defs)")
        if doc_id in docs:
            raise LexiconError(f"lexicon id {doc_id} is defined twice")
        docs[doc_id] = doc
    return dict(sorted(docs.items()))


def summarize_tree(root: Path) -> TreeSummary:
    """Hash and counts of the tree under ``root``.

    Raises:
        LexiconError: as :func:`tree_sha256` and :func:`load_documents`.
    """
    docs = load_documents(root)
    kinds: Counter[str] = Counter()
    for doc in docs.values():
        defs = doc["defs"]
        assert isinstance(defs, dict)
        for definition in defs.values():
            if isinstance(definition, dict) and isinstance(definition.get("type"), str):
                kinds[str(definition["type"])] += 1
    return TreeSummary(
        sha256=tree_sha256(root),
        files=len(_files(root)),
        lexicon_files=len(docs),
        record_types=kinds["record"],
        object_defs=kinds["object"],
        queries=kinds["query"],
        permission_sets=kinds["permission-set"],
    )
