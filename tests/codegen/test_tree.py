"""The lexicon tree's content hash and summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lairs_etl._codegen import read_pin, summarize_tree, synced_tree, tree_sha256
from lairs_etl.errors import LexiconError
from tests.fixtures.lexicons import SYNTHETIC_DOCS, write_tree


def _expected_hash(root: Path) -> str:
    """The documented algorithm, written out independently of the implementation."""
    digest = hashlib.sha256()
    files = sorted(p for p in (root / "pub" / "layers").rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix().encode()):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def test_hash_follows_the_documented_algorithm(synthetic_tree: Path) -> None:
    assert tree_sha256(synthetic_tree) == _expected_hash(synthetic_tree)


def test_hash_ignores_creation_order_and_location(tmp_path: Path) -> None:
    first = write_tree(tmp_path / "a", SYNTHETIC_DOCS)
    second = write_tree(tmp_path / "b", dict(reversed(list(SYNTHETIC_DOCS.items()))))
    assert tree_sha256(first) == tree_sha256(second)


@pytest.mark.parametrize("change", ["content", "rename", "extra-file"])
def test_hash_changes_with_any_file(tmp_path: Path, change: str) -> None:
    root = write_tree(tmp_path, SYNTHETIC_DOCS)
    before = tree_sha256(root)
    target = root / "pub" / "layers" / "testkit" / "defs.json"
    if change == "content":
        target.write_text(target.read_text() + " ")
    elif change == "rename":
        target.rename(target.with_name("defs2.json"))
    else:
        (target.parent / "README.md").write_text("notes")
    assert tree_sha256(root) != before


def test_summary_counts_defs_by_kind(synthetic_tree: Path) -> None:
    summary = summarize_tree(synthetic_tree)
    assert summary.counts() == {
        "files": 2,
        "lexicon_files": 2,
        "record_types": 1,
        "object_defs": 3,
        "queries": 0,
        "permission_sets": 0,
    }


def test_pinned_tree_matches_the_manifest(lexicon_tree: Path) -> None:
    pin = read_pin(Path(__file__).resolve().parents[2] / "lexicons" / "manifest.json")
    summary = summarize_tree(lexicon_tree)
    assert summary.sha256 == pin.sha256
    assert summary.counts() == pin.counts
    assert (summary.record_types, summary.lexicon_files) == (26, 99)


def test_missing_tree_is_a_lexicon_error(tmp_path: Path) -> None:
    with pytest.raises(LexiconError):
        tree_sha256(tmp_path)
    with pytest.raises(LexiconError, match="lexicons sync"):
        synced_tree(tmp_path)


def test_a_symlink_in_the_tree_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "t", SYNTHETIC_DOCS)
    (root / "pub" / "layers" / "link.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(LexiconError, match="regular file"):
        tree_sha256(root)


def test_malformed_document_is_a_lexicon_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, SYNTHETIC_DOCS)
    (root / "pub" / "layers" / "bad.json").write_text(json.dumps({"defs": {}}))
    with pytest.raises(LexiconError, match="not a lexicon document"):
        summarize_tree(root)
