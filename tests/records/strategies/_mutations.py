"""Mutations: each breaks (or deliberately keeps valid) one generated value of a record.

``expect`` is the verdict a spec-reading validator should reach: ``False`` invalid,
``True`` valid, ``None`` for edge cases that only the reference settles. Each mutation
picks one :class:`Site` of the kind it needs, or returns ``None`` when the record has none.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from ._formats import BAD, EDGE
from ._values import MAX_DEPTH, Draw, Generator, Path, Site

_LONGEST = 20_000  # skip limits whose over-long value would be absurd to ship around


@dataclass
class Context:
    record: dict[str, Any]
    sites: Sequence[Site]
    draw: Draw
    gen: Generator

    def pick(self, accept: Callable[[Site], bool]) -> Site | None:
        fits = [site for site in self.sites if accept(site)]
        return self.draw(st.sampled_from(fits)) if fits else None

    def get(self, path: Path) -> Any:
        node: Any = self.record
        for step in path:
            node = node[step]
        return node

    def set(self, path: Path, value: Any) -> None:
        self.get(path[:-1])[path[-1]] = value


Apply = Callable[[Context], str | None]


@dataclass(frozen=True)
class Mutation:
    name: str
    expect: bool | None
    apply: Apply


def _where(site: Site) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in site.path)


_WRONG = {
    "string": 42,
    "integer": "7",
    "boolean": "true",
    "array": "x",
    "object": 17,
    "blob": "bafkreigh2akiscaildc",
    "unknown": "text",
    "bytes": "AAAA",
    "cid-link": "bafy",
}


def wrong_type(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: bool(s.path) and s.type in _WRONG)
    if site is None:
        return None
    ctx.set(site.path, _WRONG[site.type])
    return f"{_where(site)}: {site.type} -> {_WRONG[site.type]!r}"


def missing_required(ctx: Context) -> str | None:
    def has_required(site: Site) -> bool:
        return site.type in ("object", "") and any(
            k in ctx.get(site.path) for k in site.defn.get("required", ())
        )

    site = ctx.pick(lambda s: "properties" in s.defn and has_required(s))
    if site is None:
        return None
    obj = ctx.get(site.path)
    key = ctx.draw(st.sampled_from([k for k in site.defn["required"] if k in obj]))
    del obj[key]
    return f"{_where(site)}.{key} removed"


def missing_created_at(ctx: Context) -> str | None:
    if "createdAt" not in ctx.record:
        return None
    del ctx.record["createdAt"]
    return "$.createdAt removed"


def null_value(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: bool(s.path) and not s.nullable)
    if site is None:
        return None
    ctx.set(site.path, None)
    return f"{_where(site)}: null"


def _plain_limited(site: Site) -> bool:
    d = site.defn
    return d.get("type") == "string" and "format" not in d and "enum" not in d and "const" not in d


def string_too_long_bytes(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: _plain_limited(s) and 0 < s.defn.get("maxLength", 0) <= _LONGEST)
    if site is None:
        return None
    limit = site.defn["maxLength"]
    char = ctx.draw(st.sampled_from(["é", "日", "😀"]))
    text = char * (limit // len(char.encode()) + 1)  # few code points, too many bytes
    ctx.set(site.path, text)
    return f"{_where(site)}: {len(text)} x {char!r} = {len(text.encode())} bytes > {limit}"


def string_combining_too_long(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: _plain_limited(s) and 0 < s.defn.get("maxLength", 0) <= _LONGEST)
    if site is None:
        return None
    limit = site.defn["maxLength"]
    text = "e" + "\u0301" * (limit // 2 + 1)  # one grapheme, too many bytes
    ctx.set(site.path, text)
    return f"{_where(site)}: 1 grapheme of {len(text.encode())} bytes > {limit}"


def string_too_long_graphemes(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: _plain_limited(s) and "maxGraphemes" in s.defn)
    if site is None:
        return None
    limit = site.defn["maxGraphemes"]
    # Multi-code-point graphemes while the byte limit allows, so only the grapheme count fails.
    room = site.defn.get("maxLength", 10**9) // (limit + 1)
    unit = next((u for u in ("👍🏽", "e\u0301", "é", "a") if len(u.encode()) <= room), "a")
    text = unit * (limit + 1)
    ctx.set(site.path, text)
    return f"{_where(site)}: {limit + 1} x {unit!r}: {limit + 1} graphemes > {limit}"


def string_at_byte_limit(ctx: Context) -> str | None:
    site = ctx.pick(
        lambda s: (
            _plain_limited(s) and 4 <= s.defn.get("maxLength", 0) <= _LONGEST and "maxGraphemes" not in s.defn
        )
    )
    if site is None:
        return None
    limit = site.defn["maxLength"]
    unit = ctx.draw(st.sampled_from(["日", "😀", "e\u0301", "é"]))
    size = len(unit.encode())
    text = unit * (limit // size) + "a" * (limit % size)
    ctx.set(site.path, text)
    return f"{_where(site)}: exactly {limit} bytes of {unit!r}"


def string_too_short(ctx: Context) -> str | None:
    site = ctx.pick(
        lambda s: _plain_limited(s) and (s.defn.get("minLength", 0) > 0 or s.defn.get("minGraphemes", 0) > 0)
    )
    if site is None:
        return None
    ctx.set(site.path, "")
    return f"{_where(site)}: empty string"


def _format_value(table: dict[str, tuple[str, ...]]) -> Apply:
    def apply(ctx: Context) -> str | None:
        site = ctx.pick(lambda s: s.type == "string" and s.defn.get("format") in table)
        if site is None:
            return None
        value = ctx.draw(st.sampled_from(table[site.defn["format"]]))
        ctx.set(site.path, value)
        return f"{_where(site)} ({site.defn['format']}): {value!r}"

    return apply


def const_enum_violation(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: "const" in s.defn or "enum" in s.defn)
    if site is None:
        return None
    allowed = [site.defn["const"]] if "const" in site.defn else list(site.defn["enum"])
    first = allowed[0]
    if isinstance(first, bool):
        value: Any = not first
    elif isinstance(first, int):
        value = max(allowed) + 1
    else:
        value = "-".join(map(str, allowed)) + "-other"
    ctx.set(site.path, value)
    return f"{_where(site)}: {value!r} not in {allowed!r}"


def _integer_sites(ctx: Context, accept: Callable[[Site], bool] = lambda s: True) -> Site | None:
    return ctx.pick(lambda s: s.type == "integer" and accept(s))


def integer_out_of_range(ctx: Context) -> str | None:
    site = _integer_sites(ctx, lambda s: "minimum" in s.defn or "maximum" in s.defn)
    if site is None:
        return None
    sides = [b for b in ("minimum", "maximum") if b in site.defn]
    side = ctx.draw(st.sampled_from(sides))
    value = site.defn[side] - 1 if side == "minimum" else site.defn[side] + 1
    ctx.set(site.path, value)
    return f"{_where(site)}: {value} beyond {side} {site.defn[side]}"


def _integer_to(make: Callable[[int], Any], label: str) -> Apply:
    def apply(ctx: Context) -> str | None:
        site = _integer_sites(ctx)
        if site is None:
            return None
        value = make(ctx.get(site.path))
        ctx.set(site.path, value)
        return f"{_where(site)}: {label} {value!r}"

    return apply


def array_too_long(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: s.type == "array" and "maxLength" in s.defn and s.defn["maxLength"] <= 10_000)
    if site is None:
        return None
    items = ctx.get(site.path)
    item = items[0] if items else ctx.gen.value(site.defn["items"], site.base, (), MAX_DEPTH)
    items.extend(copy.deepcopy(item) for _ in range(site.defn["maxLength"] + 1 - len(items)))
    return f"{_where(site)}: {len(items)} items > {site.defn['maxLength']}"


def array_too_short(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: s.type == "array" and s.defn.get("minLength", 0) > 0)
    if site is None:
        return None
    del ctx.get(site.path)[site.defn["minLength"] - 1 :]
    return f"{_where(site)}: fewer than {site.defn['minLength']} items"


def _union_member(closed: bool | None) -> Callable[[Site], bool]:
    def accept(site: Site) -> bool:
        return site.union is not None and (closed is None or bool(site.union.get("closed")) == closed)

    return accept


def union_missing_type(ctx: Context) -> str | None:
    site = ctx.pick(_union_member(None))
    if site is None:
        return None
    del ctx.get(site.path)["$type"]
    return f"{_where(site)}: $type removed"


def _union_unknown(closed: bool) -> Apply:
    def apply(ctx: Context) -> str | None:
        site = ctx.pick(_union_member(closed))
        if site is None:
            return None
        ctx.get(site.path)["$type"] = "com.example.elsewhere#thing"
        return (
            f"{_where(site)}: $type com.example.elsewhere#thing in a {'closed' if closed else 'open'} union"
        )

    return apply


def extra_fields(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: "properties" in s.defn)
    if site is None:
        return None
    ctx.get(site.path).update({"xLairsExtra": "kept", "xLairsNested": {"deep": [1, 2]}})
    return f"{_where(site)}: extra keys"


def unknown_record_type(ctx: Context) -> str | None:
    ctx.record["$type"] = "pub.layers.nonexistent.record"
    return "$type pub.layers.nonexistent.record"


def missing_record_type(ctx: Context) -> str | None:
    del ctx.record["$type"]
    return "$type removed"


def blob_malformed(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: s.type == "blob")
    if site is None:
        return None
    blob = ctx.get(site.path)
    how = ctx.draw(st.sampled_from(["mimeType", "ref", "size"]))
    if how == "ref":
        blob["ref"] = blob["ref"]["$link"]
    else:
        del blob[how]
    return f"{_where(site)}: blob {how} broken"


def array_for_object(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: bool(s.path) and s.type in ("object", "unknown") and s.union is None)
    if site is None:
        return None
    ctx.set(site.path, [])
    return f"{_where(site)}: [] for {site.type}"


def union_relative_type(ctx: Context) -> str | None:
    site = ctx.pick(_union_member(None))
    if site is None:
        return None
    member = ctx.get(site.path)
    member["$type"] = "#" + member["$type"].rpartition("#")[2]
    return f"{_where(site)}: relative $type {member['$type']!r}"


def lone_surrogate(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: _plain_limited(s) and s.defn.get("maxLength", 999) >= 9)
    if site is None:
        return None
    ctx.set(site.path, "a\ud800b")
    return f"{_where(site)}: lone surrogate (JSON-legal, not UTF-8)"


def stray_type_in_object(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: bool(s.path) and "properties" in s.defn and s.union is None)
    if site is None:
        return None
    ctx.get(site.path)["$type"] = "com.example.other#thing"
    return f"{_where(site)}: $type in a plain (non-union) object"


def blob_edge(ctx: Context) -> str | None:
    site = ctx.pick(lambda s: s.type == "blob")
    if site is None:
        return None
    blob = ctx.get(site.path)
    how = ctx.draw(st.sampled_from(["mime outside accept", "size over maxSize", "legacy form", "float size"]))
    if how == "mime outside accept":
        blob["mimeType"] = "text/plain"
    elif how == "size over maxSize":
        blob["size"] = site.defn.get("maxSize", 10**9) + 1
    elif how == "legacy form":
        ctx.set(site.path, {"cid": blob["ref"]["$link"], "mimeType": blob["mimeType"]})
    else:
        blob["size"] += 0.5
    return f"{_where(site)}: blob {how}"


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("wrong_type", False, wrong_type),
    Mutation("missing_required", False, missing_required),
    Mutation("missing_createdAt", False, missing_created_at),
    Mutation("null_value", False, null_value),
    Mutation("string_too_long_bytes", False, string_too_long_bytes),
    Mutation("string_combining_too_long", False, string_combining_too_long),
    Mutation("string_too_long_graphemes", False, string_too_long_graphemes),
    Mutation("string_too_short", False, string_too_short),
    Mutation("bad_format", False, _format_value(BAD)),
    Mutation("integer_out_of_range", False, integer_out_of_range),
    Mutation("const_enum_violation", False, const_enum_violation),
    Mutation("float_for_integer", False, _integer_to(lambda v: v + 0.5, "float")),
    Mutation("bool_for_integer", False, _integer_to(lambda v: True, "bool")),
    Mutation("string_for_integer", False, _integer_to(str, "string")),
    Mutation("array_too_long", False, array_too_long),
    Mutation("array_too_short", False, array_too_short),
    Mutation("union_missing_type", False, union_missing_type),
    Mutation("union_unknown_closed", False, _union_unknown(closed=True)),
    Mutation("unknown_record_type", False, unknown_record_type),
    Mutation("missing_record_type", False, missing_record_type),
    Mutation("blob_malformed", False, blob_malformed),
    Mutation("extra_fields", True, extra_fields),
    Mutation("union_unknown_open", True, _union_unknown(closed=False)),
    Mutation("string_at_byte_limit", True, string_at_byte_limit),
    Mutation("stray_type_in_object", True, stray_type_in_object),
    Mutation("format_edge", None, _format_value(EDGE)),
    Mutation("union_relative_type", None, union_relative_type),
    Mutation("lone_surrogate", None, lone_surrogate),
    Mutation("blob_edge", None, blob_edge),
    Mutation("integral_float", None, _integer_to(float, "integral float")),
    Mutation("array_for_object", None, array_for_object),
)
