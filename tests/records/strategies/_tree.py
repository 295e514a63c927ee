"""The lexicon tree as plain JSON docs, with ref resolution the way the reference does it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Def = Mapping[str, Any]

_REPO = Path(__file__).resolve().parents[3]


def default_lexicon_dir() -> Path:
    """``$LAIRS_ETL_LEXICON_DIR``, else the synced ``lexicons/cache``, else ``../shared/lexicons``."""
    env = os.environ.get("LAIRS_ETL_LEXICON_DIR")
    if env:
        return Path(env)
    cache = _REPO / "lexicons" / "cache"
    if cache.is_dir() and any(cache.rglob("*.json")):
        return cache
    return _REPO.parent / "shared" / "lexicons"


@dataclass(frozen=True)
class LexiconTree:
    """Every lexicon doc of a tree, keyed by NSID."""

    docs: Mapping[str, Mapping[str, Any]]
    root: Path
    _records: tuple[str, ...] = field(default=(), repr=False)
    _reach: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, root: Path | None = None) -> LexiconTree:
        root = root or default_lexicon_dir()
        docs: dict[str, Mapping[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            docs[doc["id"]] = doc
        records = tuple(
            sorted(nsid for nsid, doc in docs.items() if doc["defs"].get("main", {}).get("type") == "record")
        )
        return cls(docs=docs, root=root, _records=records)

    @property
    def record_types(self) -> tuple[str, ...]:
        return self._records

    def record_def(self, nsid: str) -> Def:
        main: Def = self.docs[nsid]["defs"]["main"]["record"]
        return main

    def resolve(self, ref: str, base: str) -> tuple[str, str, Def]:
        """``(nsid, name, def)`` of ``#name``, ``nsid#name`` or ``nsid`` (its main) seen from ``base``."""
        nsid, _, name = ref.partition("#")
        nsid = nsid or base
        name = name or "main"
        return nsid, name, self.docs[nsid]["defs"][name]

    @staticmethod
    def type_name(nsid: str, name: str) -> str:
        """The ``$type`` a union member carries: ``nsid`` for a main def, else ``nsid#name``."""
        return nsid if name == "main" else f"{nsid}#{name}"

    def walk_defs(self) -> Iterator[tuple[str, str, Def]]:
        for nsid, doc in self.docs.items():
            for name, definition in doc["defs"].items():
                yield nsid, name, definition

    def leading_to(self, kind: str) -> frozenset[int]:
        """``id()`` of every def (as written in its parent) from which a ``kind`` def is reachable."""
        if kind in self._reach:
            return self._reach[kind]
        reach: set[int] = set()
        changed = True
        while changed:
            changed = False
            for nsid, _, definition in self.walk_defs():
                for node in _nodes(definition):
                    if id(node) not in reach and self._leads(node, nsid, kind, reach):
                        reach.add(id(node))
                        changed = True
        self._reach[kind] = frozenset(reach)
        return self._reach[kind]

    def _leads(self, node: Def, base: str, kind: str, reach: set[int]) -> bool:
        if node.get("type") == kind:
            return True
        if node.get("type") == "ref":
            _, _, target = self.resolve(node["ref"], base)
            return id(target) in reach or target.get("type") == kind
        children = [*node.get("properties", {}).values(), node.get("items", {}), node.get("record", {})]
        return any(id(child) in reach for child in children)


def _nodes(definition: Def) -> Iterator[Def]:
    yield definition
    for child in (
        *definition.get("properties", {}).values(),
        definition.get("items"),
        definition.get("record"),
    ):
        if isinstance(child, Mapping):
            yield from _nodes(child)
