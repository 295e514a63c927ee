"""Lexicon tooling: pin and sync the lexicon tree, generate the pydantic models.

Used by ``lairs-etl lexicons`` and ``lairs-etl gen``; :func:`synced_tree` is how other
code and tests find the synced tree.
"""

from __future__ import annotations

from lairs_etl._codegen.generator import GENERATED_DIR, check_generated, generate_sources, write_generated
from lairs_etl._codegen.manifest import LexiconPin, read_pin, write_pin
from lairs_etl._codegen.sync import sync_lexicons
from lairs_etl._codegen.tree import (
    TreeSummary,
    lexicons_dir,
    load_documents,
    summarize_tree,
    synced_tree,
    tree_sha256,
)

__all__ = [
    "GENERATED_DIR",
    "LexiconPin",
    "TreeSummary",
    "check_generated",
    "generate_sources",
    "lexicons_dir",
    "load_documents",
    "read_pin",
    "summarize_tree",
    "sync_lexicons",
    "synced_tree",
    "tree_sha256",
    "write_generated",
    "write_pin",
]
