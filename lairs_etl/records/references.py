"""The references a record actually contains, found through its schema.

Where a record type keeps AT-URIs comes from the generated models
(:func:`~lairs_etl.records.format_paths` with format ``at-uri``: the Layers lexicons
have no strongRef, their at-uri strings are the references), compiled once per type
into key paths and walked over the record's JSON. Blobs are recognised by the data
model's own shape (``{"$type": "blob", "ref": {"$link": …}}``), which is the same for
every lexicon.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from pydantic import JsonValue

from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.syntax import AtUri
from lairs_etl.errors import CodecError, InvalidIdentifier
from lairs_etl.records.introspect import format_paths
from lairs_etl.records.registry import find_record_model

__all__ = [
    "BlobRef",
    "blob_refs",
    "blob_refs_sized",
    "record_references",
    "reference_paths",
    "reference_strings",
]

_Step = str | None  # a key, or None for "every item of an array"


@cache
def reference_paths(nsid: str) -> tuple[tuple[_Step, ...], ...]:
    """The at-uri paths of record type ``nsid`` as key steps (``None`` = each array item).

    An unknown type has none: a record the installed lexicons do not know is published
    without ordering constraints rather than refused.
    """
    model = find_record_model(nsid)
    if model is None:
        return ()
    return tuple(_steps(path) for path in format_paths(model, "at-uri"))


def _steps(pattern: str) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    for segment in pattern.removeprefix("$").split("."):
        name = segment.split("[*]", 1)[0]
        if name:
            steps.append(name)
        steps.extend(None for _ in range(segment.count("[*]")))
    return tuple(steps)


def record_references(nsid: str, value: JsonValue) -> set[AtUri]:
    """Every well-formed AT-URI found at the schema's at-uri paths of ``value``."""
    found: set[AtUri] = set()
    for text in reference_strings(nsid, value):
        try:
            found.add(AtUri(text))
        except InvalidIdentifier:
            continue  # a malformed URI points nowhere we could order by
    return found


def reference_strings(nsid: str, value: JsonValue) -> set[str]:
    """The ``at://`` strings at the schema's at-uri paths, unparsed.

    For matching against URIs already known (the records of a plan), where parsing
    every reference again would be wasted work.
    """
    return {
        leaf
        for steps in reference_paths(nsid)
        for leaf in _walk(value, steps)
        if isinstance(leaf, str) and leaf.startswith("at://")
    }


def _walk(node: JsonValue, steps: tuple[_Step, ...]) -> Iterator[JsonValue]:
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    if step is None:
        if isinstance(node, list):
            for item in node:
                yield from _walk(item, rest)
    elif isinstance(node, dict) and step in node:
        yield from _walk(node[step], rest)


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob as a record declares it: MIME type and size in bytes (both as the record says)."""

    mime_type: str
    size: int | None


def blob_refs(value: JsonValue) -> dict[Cid, str]:
    """Every blob referenced anywhere in a record's JSON form: CID → declared MIME type."""
    return {cid: ref.mime_type for cid, ref in blob_refs_sized(value).items()}


def blob_refs_sized(value: JsonValue) -> dict[Cid, BlobRef]:
    """Every blob referenced anywhere in a record's JSON form: CID → declared type and size."""
    found: dict[Cid, BlobRef] = {}
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("ref")
            if node.get("$type") == "blob" and isinstance(ref, dict) and isinstance(ref.get("$link"), str):
                try:
                    mime, size = node.get("mimeType"), node.get("size")
                    found[parse_cid(str(ref["$link"]))] = BlobRef(
                        mime if isinstance(mime, str) else "",
                        size if isinstance(size, int) and not isinstance(size, bool) else None,
                    )
                except CodecError:
                    pass  # not a CID: the PDS will refuse the record, with its own message
                continue
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
