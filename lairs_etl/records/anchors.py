"""Anchors: where an annotation attaches (a text span, tokens, a time span, a box, a page).

Each helper returns a validated ``pub.layers.defs#anchor`` with exactly one of its
alternatives set. :func:`text_span` takes character offsets, the unit people count
in, and derives the UTF-8 byte offsets the lexicon requires, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lairs_etl.errors import ConfigError
from lairs_etl.records.base import LexObject
from lairs_etl.records.builders import build_object, object_from

__all__ = [
    "bounding_box",
    "page_anchor",
    "spatio_temporal_anchor",
    "temporal_span",
    "text_span",
    "token_ref",
    "token_ref_sequence",
]

_ANCHOR = "pub.layers.defs#anchor"


def _anchor(**alternative: Mapping[str, object]) -> LexObject:
    return object_from(_ANCHOR, alternative)


def _span(text: str, start: int, end: int) -> dict[str, int]:
    if not 0 <= start <= end <= len(text):
        raise ConfigError(f"span [{start}, {end}) is outside a text of {len(text)} characters")
    byte_start = len(text[:start].encode())
    return {
        "byteStart": byte_start,
        "byteEnd": byte_start + len(text[start:end].encode()),
        "charStart": start,
        "charEnd": end,
    }


def text_span(text: str, start: int, end: int) -> LexObject:
    """An anchor on characters ``[start, end)`` of ``text``, with UTF-8 byte offsets too.

    Raises:
        ConfigError: the span does not lie within the text.
    """
    return _anchor(textSpan=_span(text, start, end))


def token_ref(tokenization_id: str, index: int) -> LexObject:
    """An anchor on one token of a tokenization (by the tokenization's id)."""
    return _anchor(tokenRef={"tokenizationId": {"value": tokenization_id}, "tokenIndex": index})


def token_ref_sequence(tokenization_id: str, indexes: Sequence[int], *, head: int | None = None) -> LexObject:
    """An anchor on several tokens (a multi-word expression); ``head`` is the anchor token."""
    body: dict[str, object] = {"tokenizationId": {"value": tokenization_id}, "tokenIndexes": list(indexes)}
    if head is not None:
        body["anchorTokenIndex"] = head
    return _anchor(tokenRefSequence=body)


def temporal_span(start: int, end: int) -> LexObject:
    """An anchor on a stretch of a recording, ``start`` and ``end`` in milliseconds."""
    return _anchor(temporalSpan={"start": start, "ending": end})


def bounding_box(x: int, y: int, width: int, height: int) -> LexObject:
    """A ``pub.layers.defs#boundingBox`` (pixels), for page and keyframe anchors."""
    return build_object("pub.layers.defs#boundingBox", x=x, y=y, width=width, height=height)


def spatio_temporal_anchor(
    start: int, end: int, keyframes: Sequence[tuple[int, LexObject]], *, interpolation: str | None = None
) -> LexObject:
    """An anchor on a region moving over time: ``(time_ms, bounding_box)`` keyframes."""
    body: dict[str, object] = {
        "temporalSpan": {"start": start, "ending": end},
        "keyframes": [{"timeMs": ms, "bbox": box} for ms, box in keyframes],
    }
    if interpolation is not None:
        body["interpolation"] = interpolation
    return _anchor(spatioTemporalAnchor=body)


def page_anchor(
    page: int, *, box: LexObject | None = None, text: tuple[str, int, int] | None = None
) -> LexObject:
    """An anchor on a page of a document, optionally a region and/or a span of its text."""
    body: dict[str, object] = {"page": page}
    if box is not None:
        body["boundingBox"] = box
    if text is not None:
        body["textSpan"] = _span(*text)
    return _anchor(pageAnchor=body)
