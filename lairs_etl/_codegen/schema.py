"""An index of lexicon defs: resolve refs, find what records reach, name the classes."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lairs_etl.errors import LexiconError

__all__ = ["DefInfo", "LexiconSchema", "RESERVED_NAMES"]

#: Names the generated modules import; classes and fields must not shadow them.
RESERVED_NAMES = frozenset(
    {
        "Annotated",
        "Any",
        "ClassVar",
        "Discriminator",
        "Field",
        "Literal",
        "Tag",
        "Union",
        "LexObject",
        "LexRecord",
        "ArrayAsObject",
        "Blob",
        "Bytes",
        "CidLink",
        "LexBoolean",
        "LexInteger",
        "LexString",
        "Omittable",
        "OpenVariant",
        "Unknown",
        "union_tag",
        "OPEN_UNION_TAG",
        "str",
        "int",
        "bool",
        "dict",
        "list",
        "float",
        "None",
        "NSID",
        "LEX_ID",
        "KEY",
    }
)
_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")


@dataclass(frozen=True, slots=True)
class DefInfo:
    """One object or record def to generate: where it goes and what it is called."""

    lex_id: str  # "nsid#name"
    nsid: str
    name: str
    node: Mapping[str, Any]
    module: str
    class_name: str

    @property
    def public_id(self) -> str:
        """``nsid`` for a main def, else ``nsid#name`` (the ``$type`` form)."""
        return self.nsid if self.name == "main" else self.lex_id


class LexiconSchema:
    """All defs of a set of lexicon documents, keyed ``nsid#name``."""

    def __init__(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        self.defs: dict[str, Mapping[str, Any]] = {}
        for nsid, doc in docs.items():
            for name, node in doc["defs"].items():
                self.defs[f"{nsid}#{name}"] = node
        self.generated = self._name(self._reachable())

    def resolve(self, ref: str, context_nsid: str) -> str:
        """A ref (``#x``, ``nsid``, ``nsid#x``, with or without ``lex:``) as ``nsid#name``.

        Raises:
            LexiconError: the ref names no def.
        """
        ref = ref.removeprefix("lex:")
        full = f"{context_nsid}{ref}" if ref.startswith("#") else ref if "#" in ref else f"{ref}#main"
        if full not in self.defs:
            raise LexiconError(f"unresolved ref {ref!r} in {context_nsid}")
        return full

    def records(self) -> Iterator[str]:
        """The ids of record defs, sorted."""
        return iter(sorted(lex_id for lex_id, node in self.defs.items() if node.get("type") == "record"))

    def _reachable(self) -> list[str]:
        seen: set[str] = set()
        stack = list(self.records())
        while stack:
            lex_id = stack.pop()
            if lex_id in seen:
                continue
            seen.add(lex_id)
            stack.extend(self._refs(self.defs[lex_id], lex_id.split("#")[0]))
        return sorted(i for i in seen if self.defs[i].get("type") in ("object", "record"))

    def _refs(self, node: Any, nsid: str) -> Iterator[str]:
        if not isinstance(node, Mapping):
            return
        kind = node.get("type")
        if kind == "ref":
            yield self.resolve(node["ref"], nsid)
        elif kind == "union":
            for ref in node.get("refs", ()):
                yield self.resolve(ref, nsid)
        elif kind == "record":
            yield from self._refs(node.get("record"), nsid)
        elif kind == "object":
            for prop in node.get("properties", {}).values():
                yield from self._refs(prop, nsid)
        elif kind == "array":
            yield from self._refs(node.get("items"), nsid)

    def _name(self, ids: list[str]) -> dict[str, DefInfo]:
        wanted: dict[str, tuple[str, str, str, str]] = {}
        for lex_id in ids:
            nsid, name = lex_id.split("#")
            namespace, file = nsid.rsplit(".", 1)
            module = _module_name(namespace)
            if name == "main":
                short = _pascal(file)
            else:
                short = _pascal(name) if file == "defs" else _pascal(f"{file}_{name}")
            wanted[lex_id] = (module, short, file, name)
        infos: dict[str, DefInfo] = {}
        taken: set[tuple[str, str]] = set()
        counts: dict[tuple[str, str], int] = {}
        for module, short, _, _ in wanted.values():
            counts[(module, short)] = counts.get((module, short), 0) + 1
        for lex_id, (module, short, file, name) in wanted.items():
            candidate = short
            if counts[(module, short)] > 1 or candidate in RESERVED_NAMES:
                candidate = _pascal(f"{file}_{name}")
            while (module, candidate) in taken or candidate in RESERVED_NAMES:
                candidate += "_"
            taken.add((module, candidate))
            nsid, def_name = lex_id.split("#")
            infos[lex_id] = DefInfo(lex_id, nsid, def_name, self.defs[lex_id], module, candidate)
        return infos


def _pascal(text: str) -> str:
    words = [w for w in _NOT_IDENT.sub("_", text).split("_") if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Def"
    return f"D{name}" if name[0].isdigit() else name


def _module_name(namespace: str) -> str:
    parts = namespace.split(".")
    name = "_".join(parts[2:]) if len(parts) > 2 else parts[-1]
    name = _NOT_IDENT.sub("_", name)
    return f"{name}_" if keyword.iskeyword(name) or not name.isidentifier() else name
