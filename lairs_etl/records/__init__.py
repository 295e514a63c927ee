"""Layers records: generated pydantic models, the NSID registry and validation.

``validate_record``/``validate_records`` never raise for bad data; ``parse_record``
raises :class:`~lairs_etl.errors.RecordValidationError`. Models live in
``lairs_etl.records._generated`` (written by ``lairs-etl gen``); reach them through
``record_model(nsid)``.
"""

from __future__ import annotations

from lairs_etl.records.base import LexObject, LexRecord
from lairs_etl.records.builders import (
    BuiltRecord,
    RecordBatch,
    TidSequence,
    build_object,
    build_record,
    object_from,
    to_json_form,
)
from lairs_etl.records.diagnostic import Diagnostic
from lairs_etl.records.introspect import LexField, format_paths, lex_fields
from lairs_etl.records.registry import (
    LEXICON_SHA256,
    def_model,
    find_record_model,
    record_model,
    record_types,
)
from lairs_etl.records.validation import ValidationResult, parse_record, validate_record, validate_records

__all__ = [
    "BuiltRecord",
    "Diagnostic",
    "LEXICON_SHA256",
    "LexField",
    "LexObject",
    "LexRecord",
    "RecordBatch",
    "TidSequence",
    "ValidationResult",
    "build_object",
    "build_record",
    "def_model",
    "find_record_model",
    "format_paths",
    "lex_fields",
    "object_from",
    "parse_record",
    "record_model",
    "record_types",
    "to_json_form",
    "validate_record",
    "validate_records",
]
