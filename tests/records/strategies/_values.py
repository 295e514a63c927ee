"""Valid values for lexicon defs, drawn imperatively so every generated value leaves a trail.

The :class:`Generator` walks a def the way the reference validator does (objects,
refs, unions, arrays, strings with formats and byte/grapheme limits, integers, booleans,
bytes, cid-links, blobs, unknown) and records a :class:`Site` for each value it emits;
mutations later pick a site of the right kind and break exactly that value.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import regex
from hypothesis import strategies as st

from ._formats import VALID, cids
from ._tree import Def, LexiconTree

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[Any]], Any]
Path = tuple[str | int, ...]

# Multi-byte, multi-code-point and zero-width text, so length limits are tested in
# UTF-8 bytes and graphemes rather than code points.
SPECIAL_TEXT = (
    "naïve café",
    "日本語のテキスト",
    "👩‍👩‍👧‍👦 family",
    "e\u0301\u0301 combining",
    "Ελληνικά",
    "a\u200db",
    "🇫🇷🇩🇪",
    "tab\tand\nnewline",
    "",
)
MAX_DEPTH = 6
_HARD_DEPTH = 16


@dataclass(frozen=True)
class Site:
    """One generated value: where it is and which (resolved) def produced it."""

    path: Path
    defn: Def
    base: str
    required: bool = True
    nullable: bool = False
    union: Def | None = None

    @property
    def type(self) -> str:
        kind: str = self.defn.get("type", "")
        return kind


def grapheme_len(text: str) -> int:
    return len(regex.findall(r"\X", text))


def fit_string(text: str, defn: Def) -> str:
    """Trim or pad ``text`` into the def's byte and grapheme bounds."""
    max_bytes, min_bytes = defn.get("maxLength"), defn.get("minLength", 0)
    max_graphemes, min_graphemes = defn.get("maxGraphemes"), defn.get("minGraphemes", 0)
    if max_graphemes is not None:
        text = "".join(regex.findall(r"\X", text)[:max_graphemes])
    if max_bytes is not None:
        while len(text.encode("utf-8")) > max_bytes:
            text = text[:-1]
    while len(text.encode("utf-8")) < min_bytes or grapheme_len(text) < min_graphemes:
        text += "a"
    return text


@dataclass
class Generator:
    """Draws one valid value per call, appending the sites it generated."""

    tree: LexiconTree
    draw: Draw
    steer: frozenset[int] = frozenset()
    sites: list[Site] = field(default_factory=list)

    def record(self, nsid: str) -> dict[str, Any]:
        self.sites.append(Site((), self.tree.record_def(nsid), nsid))
        body = self._object(self.tree.record_def(nsid), nsid, (), 0)
        return {"$type": nsid, **body}

    def value(self, defn: Def, base: str, path: Path, depth: int, **site: Any) -> Any:
        if depth > _HARD_DEPTH:
            raise RecursionError(f"lexicon recursion too deep at {path}")
        kind = defn["type"]
        if kind == "ref":
            nsid, _, target = self.tree.resolve(defn["ref"], base)
            return self.value(target, nsid, path, depth, **site)
        if kind == "union":
            return self._union(defn, base, path, depth, **site)
        self.sites.append(Site(path, defn, base, **site))
        maker = getattr(self, "_" + kind.replace("-", "_"))
        return maker(defn, base, path, depth)

    def _object(self, defn: Def, base: str, path: Path, depth: int) -> dict[str, Any]:
        required = set(defn.get("required", ()))
        nullable = set(defn.get("nullable", ()))
        out: dict[str, Any] = {}
        for key, prop in defn.get("properties", {}).items():
            steered = id(prop) in self.steer and depth < MAX_DEPTH
            if key not in required and not steered and (depth >= MAX_DEPTH or not self.draw(st.booleans())):
                continue
            if key in nullable and self.draw(st.integers(0, 4)) == 0:
                out[key] = None
                continue
            out[key] = self.value(
                prop, base, (*path, key), depth + 1, required=key in required, nullable=key in nullable
            )
        return out

    def _union(self, defn: Def, base: str, path: Path, depth: int, **site: Any) -> dict[str, Any]:
        ref = self.draw(st.sampled_from(defn["refs"]))
        nsid, name, target = self.tree.resolve(ref, base)
        self.sites.append(Site(path, target, nsid, **{**site, "union": defn}))
        body = self._object(target, nsid, path, depth)
        return {"$type": self.tree.type_name(nsid, name), **body}

    def _array(self, defn: Def, base: str, path: Path, depth: int) -> list[Any]:
        low = defn.get("minLength", 0)
        high = min(defn.get("maxLength", 3), 3 if depth < 2 else 1) if depth < MAX_DEPTH else low
        if id(defn["items"]) in self.steer:
            low = max(low, 1)
        count = self.draw(st.integers(low, max(low, high)))
        return [self.value(defn["items"], base, (*path, i), depth + 1) for i in range(count)]

    def _string(self, defn: Def, base: str, path: Path, depth: int) -> str:
        if "const" in defn:
            return str(defn["const"])
        if "enum" in defn:
            return str(self.draw(st.sampled_from(defn["enum"])))
        fmt = defn.get("format")
        if fmt is not None:
            return str(self.draw(VALID[fmt]))
        known = defn.get("knownValues")
        if known and self.draw(st.booleans()):
            return fit_string(self.draw(st.sampled_from(known)), defn)
        text = self.draw(st.one_of(st.text(max_size=24), st.sampled_from(SPECIAL_TEXT)))
        return fit_string(text, defn)

    def _integer(self, defn: Def, base: str, path: Path, depth: int) -> int:
        if "const" in defn:
            return int(defn["const"])
        if "enum" in defn:
            return int(self.draw(st.sampled_from(defn["enum"])))
        low = defn.get("minimum", -(2**31))
        high = defn.get("maximum", max(low, 0) + 10_000)
        return int(self.draw(st.integers(low, high)))

    def _boolean(self, defn: Def, base: str, path: Path, depth: int) -> bool:
        return bool(defn["const"]) if "const" in defn else bool(self.draw(st.booleans()))

    def _bytes(self, defn: Def, base: str, path: Path, depth: int) -> dict[str, str]:
        data = self.draw(
            st.binary(min_size=defn.get("minLength", 0), max_size=min(defn.get("maxLength", 32), 32))
        )
        return {"$bytes": base64.b64encode(data).decode().rstrip("=")}

    def _cid_link(self, defn: Def, base: str, path: Path, depth: int) -> dict[str, str]:
        return {"$link": self.draw(cids())}

    def _blob(self, defn: Def, base: str, path: Path, depth: int) -> dict[str, Any]:
        accept = defn.get("accept") or ["*/*"]
        mime = str(self.draw(st.sampled_from(accept)))
        mime = {"*/*": "application/octet-stream"}.get(mime, mime.replace("/*", "/x-sample"))
        size = self.draw(st.integers(0, defn.get("maxSize", 1_000_000)))
        return {"$type": "blob", "ref": {"$link": self.draw(cids())}, "mimeType": mime, "size": size}

    def _unknown(self, defn: Def, base: str, path: Path, depth: int) -> dict[str, Any]:
        return dict(
            self.draw(
                st.sampled_from(
                    [{}, {"note": "free-form"}, {"$type": "com.example.thing", "n": 3, "tags": ["a", "b"]}]
                )
            )
        )
