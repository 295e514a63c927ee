"""NSID → model class, discovered from the generated modules (no hand-written table).

The generator writes ``_generated/__init__.py`` listing its modules; every
:class:`~lairs_etl.records.base.LexRecord` subclass defined there is a record type and
every :class:`~lairs_etl.records.base.LexObject` subclass a def, keyed by ``LEX_ID``.
Models handed out are fully built (their ``model_fields`` hold resolved types).
"""

from __future__ import annotations

import importlib
from functools import cache

from lairs_etl.errors import LexiconError
from lairs_etl.records import _generated
from lairs_etl.records.base import LexObject, LexRecord

__all__ = ["LEXICON_SHA256", "def_model", "find_record_model", "record_model", "record_types"]

#: Content hash of the lexicon tree the models were generated from.
LEXICON_SHA256: str = _generated.LEXICON_SHA256


@cache
def _defs() -> dict[str, type[LexObject]]:
    found: dict[str, type[LexObject]] = {}
    for name in _generated.MODULES:
        module = importlib.import_module(f"{_generated.__name__}.{name}")
        for value in vars(module).values():
            defined_here = isinstance(value, type) and value.__module__ == module.__name__
            if defined_here and issubclass(value, LexObject):
                found[value.LEX_ID] = value
    for model in found.values():
        # Generated models defer their build; finish it once, now that every module is
        # loaded, so model_fields hold resolved types for callers that introspect them.
        model.model_rebuild()
    return dict(sorted(found.items()))


@cache
def _records() -> dict[str, type[LexRecord]]:
    return {model.NSID: model for model in _defs().values() if issubclass(model, LexRecord)}


_by_nsid: dict[str, type[LexRecord]] = {}  # filled on first lookup: the hot path is one dict.get


def record_types() -> tuple[str, ...]:
    """The NSIDs of every record type, sorted."""
    return tuple(_records())


def find_record_model(nsid: str) -> type[LexRecord] | None:
    """The model of record type ``nsid``, or ``None`` when there is no such lexicon."""
    if not _by_nsid:
        _by_nsid.update(_records())
    return _by_nsid.get(nsid)


def record_model(nsid: str) -> type[LexRecord]:
    """The model of record type ``nsid``.

    Raises:
        LexiconError: no record lexicon has that NSID.
    """
    model = find_record_model(nsid)
    if model is None:
        raise LexiconError(f"no record lexicon for {nsid!r}")
    return model


def def_model(lex_id: str) -> type[LexObject]:
    """The model of any object def by ``nsid#name`` (``nsid`` alone means ``#main``).

    Raises:
        LexiconError: no object def has that id.
    """
    model = _defs().get(lex_id.removeprefix("lex:").removesuffix("#main"))
    if model is None:
        raise LexiconError(f"no object def {lex_id!r}")
    return model
