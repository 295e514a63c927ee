"""Build Layers records in Python, validated at construction, addressed before publishing.

:func:`build_record` and :func:`build_object` take keyword fields (nested models or
their JSON form) and return validated model instances, raising
:class:`~lairs_etl.errors.RecordValidationError` at the line that built the bad value.

A :class:`RecordBatch` gives every record its record key when it is added (a TID from a
deterministic :class:`TidSequence`, or one the caller chose), so each record's AT-URI
and CID are known before anything is written: later records refer to earlier ones by
``batch.add(...)``'s answer, and :meth:`RecordBatch.reserve` hands out a URI ahead of
its record for reference cycles (a corpus citing an eprint that cites the corpus).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import JsonValue, ValidationError

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.syntax import AtUri, Did, Nsid, RecordKey, Tid
from lairs_etl.atproto.tid import next_tid, tid_from_parts
from lairs_etl.errors import ConfigError, RecordValidationError
from lairs_etl.records.base import LexObject, LexRecord
from lairs_etl.records.diagnostic import diagnostics_from_error
from lairs_etl.records.registry import def_model, record_model
from lairs_etl.records.validation import parse_record

__all__ = [
    "BuiltRecord",
    "RecordBatch",
    "TidSequence",
    "build_object",
    "build_record",
    "object_from",
    "to_json_form",
]


def to_json_form(value: object) -> JsonValue:
    """``value`` with every model inside it replaced by its JSON form (``to_json()``)."""
    if isinstance(value, LexObject):
        return value.to_json()
    if isinstance(value, Mapping):
        return {str(k): to_json_form(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_form(item) for item in value]
    if isinstance(value, Cid):
        return {"$link": value.encode()}
    if isinstance(value, bytes):
        raise ConfigError("bytes fields take the JSON form {'$bytes': base64}, not raw bytes")
    return value  # type: ignore[return-value]  # str, int, bool, None: JSON leaves as given


def build_record(nsid: str, /, **fields: object) -> LexRecord:
    """A validated record of type ``nsid``; ``$type`` is filled in.

    Raises:
        LexiconError: no record lexicon has that NSID.
        RecordValidationError: the fields break the lexicon (``diagnostics`` lists all).
    """
    record_model(nsid)  # the unknown-NSID error names the NSID, not a "$type" path
    body = to_json_form(fields)
    assert isinstance(body, dict)
    body["$type"] = nsid
    return parse_record(body, nsid=nsid)


def build_object(lex_id: str, /, *, typed: bool = False, **fields: object) -> LexObject:
    """A validated instance of object def ``lex_id`` (``nsid#name``) from keyword fields.

    ``typed`` adds ``$type`` = ``lex_id``, which a union member needs so that readers
    can tell the variants apart.

    Raises:
        LexiconError: no object def has that id.
        RecordValidationError: the fields break the lexicon.
    """
    return object_from(lex_id, fields, typed=typed)


def object_from(lex_id: str, fields: Mapping[str, object], *, typed: bool = False) -> LexObject:
    """:func:`build_object` with the fields as a mapping (for names that are not identifiers).

    Raises:
        LexiconError: no object def has that id.
        RecordValidationError: the fields break the lexicon.
    """
    model = def_model(lex_id)
    body = _json_mapping(fields)
    if typed:
        body["$type"] = model.LEX_ID
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = diagnostics_from_error(exc)
        first = f": {problems[0].path}: {problems[0].message}" if problems else ""
        raise RecordValidationError(f"{model.LEX_ID} is invalid{first}", diagnostics=problems) from exc


@dataclass(slots=True)
class TidSequence:
    """Strictly increasing TIDs; deterministic when ``start`` is given.

    With ``start`` (a UTC datetime) and ``clock_id``, the n-th TID is the same in every
    run, so rebuilding a batch yields the same rkeys and the same CIDs, and a second
    publish finds nothing to do. Without ``start`` it hands out fresh process TIDs.
    """

    start: datetime | None = None
    clock_id: int = 0
    _micros: int = field(default=-1, init=False, repr=False)

    def __next__(self) -> Tid:
        if self.start is None:
            return next_tid()
        if self._micros < 0:
            self._micros = int(self.start.astimezone(UTC).timestamp() * 1_000_000)
        else:
            self._micros += 1
        return tid_from_parts(self._micros, self.clock_id)

    def __iter__(self) -> Iterator[Tid]:
        return self


@dataclass(frozen=True, slots=True)
class BuiltRecord:
    """A record ready for a repository stage: address, CID and DAG-CBOR block."""

    uri: AtUri
    cid: Cid
    block: bytes = field(repr=False)
    model: LexRecord = field(repr=False)

    @property
    def collection(self) -> Nsid:
        """The record's collection (its ``$type``)."""
        assert self.uri.collection is not None
        return self.uri.collection

    @property
    def rkey(self) -> RecordKey:
        """The record key."""
        assert self.uri.rkey is not None
        return self.uri.rkey

    def value(self) -> dict[str, JsonValue]:
        """The record's JSON form."""
        return self.model.to_json()


class RecordBatch:
    """Records of one actor being authored together, each addressed when added.

    Contract: an rkey is used once per collection (a second use raises
    :class:`ConfigError`); a reserved URI must be filled by :meth:`add` before
    :meth:`records` is read; ``records()`` is in insertion order.
    """

    def __init__(self, did: str, *, tids: TidSequence | None = None) -> None:
        self.did = Did(did)
        self._tids = tids or TidSequence()
        self._reserved: set[AtUri] = set()
        self._records: dict[AtUri, BuiltRecord] = {}

    def reserve(self, collection: str, rkey: str | None = None) -> AtUri:
        """The URI a record of ``collection`` will have, before the record exists.

        Raises:
            ConfigError: the rkey is taken or does not fit the collection's key type.
            LexiconError: no record lexicon for ``collection``.
        """
        model = record_model(collection)
        uri = AtUri.for_record(self.did, collection, _check_rkey(model, rkey or next(self._tids)))
        if uri in self._records or uri in self._reserved:
            raise ConfigError(f"record key already used in this batch: {uri}", uri=uri)
        self._reserved.add(uri)
        return uri

    def add(self, record: LexRecord | Mapping[str, object], *, rkey: str | None = None) -> AtUri:
        """Add a record (a model, or a JSON-form mapping validated here); returns its URI.

        ``rkey`` may be one chosen by the caller or the rkey of a :meth:`reserve` d URI.

        Raises:
            RecordValidationError: a mapping that breaks its lexicon.
            ConfigError: the rkey is taken or does not fit the collection's key type.
        """
        model = record if isinstance(record, LexRecord) else parse_record(_json_mapping(record))
        collection = type(model).NSID
        uri = None
        if rkey is not None:
            candidate = AtUri.for_record(self.did, collection, rkey)
            if candidate in self._reserved:
                uri = candidate
        if uri is None:
            uri = self.reserve(collection, rkey)
        self._reserved.discard(uri)
        block = cbor.encode_json_form(model.to_json())
        self._records[uri] = BuiltRecord(uri, cid_for_dag_cbor(block), block, model)
        return uri

    def records(self) -> tuple[BuiltRecord, ...]:
        """Every record added, in order.

        Raises:
            ConfigError: a reserved URI was never filled (a dangling reference).
        """
        if self._reserved:
            missing = ", ".join(sorted(self._reserved))
            raise ConfigError(f"reserved record URIs never added: {missing}")
        return tuple(self._records.values())

    def entries(self) -> Iterator[tuple[str, str, Cid, bytes]]:
        """``(collection, rkey, cid, block)`` tuples, the shape ``Repository.stage`` takes."""
        for built in self.records():
            yield built.collection, built.rkey, built.cid, built.block

    def __len__(self) -> int:
        return len(self._records)


def _json_mapping(record: Mapping[str, object]) -> dict[str, JsonValue]:
    body = to_json_form(record)
    assert isinstance(body, dict)
    return body


def _check_rkey(model: type[LexRecord], rkey: str) -> RecordKey:
    key = RecordKey(rkey)
    kind = model.KEY
    if kind == "tid":
        Tid(key)
    elif kind.startswith("literal:") and key != kind.removeprefix("literal:"):
        raise ConfigError(f"{model.NSID} records use the key {kind.removeprefix('literal:')!r}, not {key!r}")
    return key
