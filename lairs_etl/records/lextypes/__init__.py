"""Field types of the generated models: one annotation per Lexicon type, introspectable.

Generated modules annotate fields as ``Annotated[<python type>, <marker>]``. Each marker
is a frozen dataclass that (1) records the lexicon constraints, so other layers can read
them from ``Model.model_fields[name].metadata`` (e.g. ``LexString(format="at-uri")``
marks a reference to another record), and (2) builds the pydantic-core schema that
checks them. Checks that pydantic-core cannot express (UTF-8 byte lengths, grapheme
counts, string formats) run in one small Python function per field.

Values of ``cid-link``, ``bytes``, ``blob`` and ``unknown`` stay in their JSON form
(``{"$link": …}``, ``{"$bytes": …}``, blob dicts, plain containers), so a validated model
dumps back to exactly the input.
"""

from __future__ import annotations

from lairs_etl.records.lextypes._ipld import Blob, Bytes, CidLink, Unknown
from lairs_etl.records.lextypes._scalars import LexBoolean, LexInteger, LexString, Omittable
from lairs_etl.records.lextypes._unions import (
    ARRAY_BRANCH,
    FAST_BRANCH,
    NOISE_BRANCHES,
    OPEN_UNION_TAG,
    ArrayAsObject,
    OpenVariant,
    union_tag,
)

__all__ = [
    "ARRAY_BRANCH",
    "ArrayAsObject",
    "Blob",
    "Bytes",
    "CidLink",
    "FAST_BRANCH",
    "LexBoolean",
    "LexInteger",
    "LexString",
    "NOISE_BRANCHES",
    "OPEN_UNION_TAG",
    "Omittable",
    "OpenVariant",
    "Unknown",
    "union_tag",
]
