"""Validate records against the generated lexicon models, collecting every violation.

``validate_record`` is the non-raising form used by pipelines (a bad record becomes a
:class:`ValidationResult` with diagnostics, never an exception); ``parse_record`` is the
raising form builders use. The verdict mirrors ``@atproto/lexicon``'s
``Lexicons.assertValidRecord`` applied to ``jsonToLex(record)``; unlike the reference,
which stops at the first violation, every violation pydantic-core finds is reported.

Beyond the lexicon, a record must be storable: values the atproto data model cannot
hold (``NaN``, lone surrogates, integers past 64 bits, nesting past DAG-CBOR's limit)
make it invalid with code ``data_model`` (:mod:`lairs_etl.records.datamodel`), since
such a record could never be committed or published.

One deliberate difference: a float is never an integer here (``5.0`` fails an
``integer`` field), while JavaScript cannot tell ``5.0`` from ``5``. The atproto data
model has no floats, so such a value could not be stored as DAG-CBOR as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import JsonValue
from pydantic import ValidationError as _PydanticValidationError

from lairs_etl.errors import RecordValidationError
from lairs_etl.records.base import LexRecord
from lairs_etl.records.datamodel import data_model_diagnostics
from lairs_etl.records.diagnostic import Diagnostic, diagnostics_from_error
from lairs_etl.records.registry import find_record_model

__all__ = [
    "Diagnostic",
    "ValidationResult",
    "parse_record",
    "validate_record",
    "validate_records",
]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The verdict on one record; ``model`` is the validated instance when ``valid``."""

    nsid: str | None
    valid: bool
    diagnostics: tuple[Diagnostic, ...] = ()
    model: LexRecord | None = None


def validate_record(
    record: Mapping[str, JsonValue], *, nsid: str | None = None, from_dag_cbor: bool = False
) -> ValidationResult:
    """Validate one record in its JSON form (``$link``/``$bytes`` for CIDs and bytes).

    The record's ``$type`` selects the model; when ``nsid`` is given the ``$type`` must
    name it. Never raises for bad data: an unknown ``$type`` is an invalid result with
    code ``unknown_record_type``. ``from_dag_cbor`` says the value was decoded from a
    DAG-CBOR block (a fetched or stored record), so it is storable by construction and
    the data-model check (a third of the cost on large records) is skipped.
    """
    selected = _select_model(record, nsid)
    if isinstance(selected, ValidationResult):
        return selected
    found, model = selected
    storable = () if from_dag_cbor else data_model_diagnostics(record)
    try:
        instance = model.model_validate(record)
    except _PydanticValidationError as exc:
        lexical = diagnostics_from_error(exc)
        seen = {d.path for d in lexical}
        extra = tuple(d for d in storable if d.path not in seen)
        return ValidationResult(nsid=found, valid=False, diagnostics=lexical + extra)
    if storable:
        return ValidationResult(nsid=found, valid=False, diagnostics=storable)
    return ValidationResult(nsid=found, valid=True, model=instance)


def validate_records(
    records: Iterable[Mapping[str, JsonValue]], *, nsid: str | None = None
) -> list[ValidationResult]:
    """Validate every record (one result each, in order); a bad record never stops the rest."""
    return [validate_record(record, nsid=nsid) for record in records]


def parse_record(
    record: Mapping[str, JsonValue], *, nsid: str | None = None, uri: str | None = None
) -> LexRecord:
    """Validate one record and return its model instance.

    Raises:
        RecordValidationError: the record is invalid; ``diagnostics`` holds every
            :class:`Diagnostic` and ``uri`` the record's address when given.
    """
    result = validate_record(record, nsid=nsid)
    if result.model is None:
        first = result.diagnostics[0] if result.diagnostics else None
        summary = f"{first.path}: {first.message}" if first else "invalid record"
        more = f" (+{len(result.diagnostics) - 1} more)" if len(result.diagnostics) > 1 else ""
        raise RecordValidationError(
            f"{result.nsid or 'record'} is invalid: {summary}{more}", diagnostics=result.diagnostics, uri=uri
        )
    return result.model


def _select_model(record: object, nsid: str | None) -> tuple[str, type[LexRecord]] | ValidationResult:
    """The record's NSID and model, or the invalid result explaining why there is none."""

    def invalid(code: str, path: str, message: str) -> ValidationResult:
        return ValidationResult(nsid=nsid, valid=False, diagnostics=(Diagnostic(path, code, message),))

    if type(record) is not dict and not isinstance(record, Mapping):
        return invalid("type", "$", "record must be an object")
    raw = record.get("$type")
    if not isinstance(raw, str):
        return invalid("record_type", "$.$type", "record $type must be a string")
    # The reference compares lexicon URIs, so "lex:<nsid>" names the same record type.
    found = raw.removeprefix("lex:")
    if nsid is not None and found != nsid:
        return invalid("record_type", "$.$type", f"record $type must be {nsid}, got {raw!r:.200}")
    model = find_record_model(found)
    if model is None:
        problem = Diagnostic("$.$type", "unknown_record_type", f"no lexicon for record type {raw!r:.200}")
        return ValidationResult(nsid=found, valid=False, diagnostics=(problem,))
    return found, model
