"""The handful of record types the analytical views explode, and along which lists.

This is the only place that knows the *shape* of annotation corpora; everything else
(columns, their types, the anchor kinds) is read from the generated models, so a new
property or a new anchor kind widens the views without an edit here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXPLODED_VIEWS", "EXPRESSION_COLLECTION", "EXPRESSIONS_DATASET", "ExplodedView", "Level"]

#: Record type whose texts the ``expressions`` view lists with their parent chains.
EXPRESSION_COLLECTION = "pub.layers.expression.expression"
EXPRESSIONS_DATASET = "expressions"


@dataclass(frozen=True, slots=True)
class Level:
    """One list crossed on the way down: the property holding it, the name of one item."""

    field: str
    alias: str


@dataclass(frozen=True, slots=True)
class ExplodedView:
    """One row per item at the end of ``levels`` of every ``collection`` record.

    Columns: ``<record_alias>_uri``/``_cid``, ``did``, ``commit``; the record properties
    in ``carry`` as ``<record_alias>_<name>``; each intermediate level's scalar
    properties as ``<alias>_<name>``; every property of the final item under its own
    name; ``<alias>_position`` (index in its list) per level. Nested objects are
    flattened with ``_`` (``anchor_textSpan_byteStart``); lists stay lists. When
    ``anchor`` names a property, ``anchor_kind`` says which of its variants is set.
    """

    dataset: str
    collection: str
    record_alias: str
    carry: tuple[str, ...]
    levels: tuple[Level, ...]
    anchor: str | None = None


EXPLODED_VIEWS: tuple[ExplodedView, ...] = (
    ExplodedView(
        dataset="annotations",
        collection="pub.layers.annotation.annotationLayer",
        record_alias="layer",
        carry=("expression", "kind", "subkind", "formalism", "labelSet", "sourceMethod", "tokenizationId"),
        levels=(Level("annotations", "annotation"),),
        anchor="anchor",
    ),
    ExplodedView(
        dataset="tokens",
        collection="pub.layers.segmentation.segmentation",
        record_alias="segmentation",
        carry=("expression",),
        levels=(Level("tokenizations", "tokenization"), Level("tokens", "token")),
    ),
    ExplodedView(
        dataset="judgments",
        collection="pub.layers.judgment.judgmentSet",
        record_alias="judgment_set",
        carry=("experimentRef", "agent"),
        levels=(Level("judgments", "judgment"),),
    ),
)
