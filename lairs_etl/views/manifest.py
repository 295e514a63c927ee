"""The lake's manifest: which tables exist at which version, from which revision, with counts.

Two kinds of file, both canonical JSON (sorted keys, no clock) so a rebuilt lake is
byte-identical: ``<lake>/_lairs_views.json`` holds what is lake-wide (the tables, their
versions and Arrow schemas as base64 IPC, to decide evolution; provenance), and
``<lake>/_lairs_actors/<escaped did>.json`` one actor's rows per table and record counts.
Per-actor files let runs that rewrite different actors (Dagster partitions) proceed at
the same time without losing each other's counts; the warehouse merges them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lairs_etl.atproto import jsoncodec
from lairs_etl.views.invalid import INVALID_DATASET, INVALID_SCHEMA
from lairs_etl.views.layout import LEGACY_PART_NAME, TableKey

__all__ = ["ActorStats", "Manifest", "TableEntry", "decode_manifest", "encode_actor_state", "encode_manifest"]

_FORMAT = 2
_READABLE = (1, 2)
"""Format 1 (before Iceberg) named no files: each partition had ``part-0.parquet``."""


@dataclass(frozen=True, slots=True)
class ActorStats:
    """Records of one actor's collection: valid ones, invalid ones, DAG-CBOR bytes of all."""

    did: str
    collection: str
    records: int
    invalid_records: int
    bytes: int


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One table at its current version: its schema, rows and file name per actor partition."""

    key: TableKey
    version: int
    schema: pa.Schema
    partitions: Mapping[str, int] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    """The current file of each partition in ``partitions`` (see :mod:`.layout`)."""

    @property
    def rows(self) -> int:
        """Rows over every partition."""
        return sum(self.partitions.values())


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a lake holds; see the module docstring."""

    commit: str
    lexicon_sha256: str
    generator: str
    tables: tuple[TableEntry, ...] = ()
    stats: tuple[ActorStats, ...] = ()
    actor_commits: Mapping[str, str] = field(default_factory=dict, hash=False)
    """The repository commit each actor's partitions were last written from."""

    def table(self, key: TableKey) -> TableEntry | None:
        """The entry of ``key``, if the lake has that table."""
        return next((entry for entry in self.tables if entry.key == key), None)


def encode_manifest(manifest: Manifest) -> bytes:
    """Canonical JSON bytes of the lake-wide part of ``manifest`` (no per-actor state)."""
    doc = {
        "format": _FORMAT,
        "commit": manifest.commit,
        "lexicon_sha256": manifest.lexicon_sha256,
        "generator": manifest.generator,
        "tables": [
            {
                "dataset": entry.key.dataset,
                "collection": entry.key.collection,
                "version": entry.version,
                "schema": base64.b64encode(entry.schema.serialize().to_pybytes()).decode(),
            }
            for entry in sorted(manifest.tables, key=lambda e: e.key)
        ],
    }
    return _canonical(doc)


def encode_actor_state(did: str, commit: str, manifest: Manifest) -> bytes:
    """Canonical JSON bytes of ``did``'s counts in ``manifest`` (its partitions and stats)."""
    doc = {
        "format": _FORMAT,
        "did": did,
        "commit": commit,
        "partitions": {
            e.key.name: [e.partitions[did], e.files.get(did, LEGACY_PART_NAME)]
            for e in sorted(manifest.tables, key=lambda e: e.key)
            if did in e.partitions
        },
        "stats": [
            [s.collection, s.records, s.invalid_records, s.bytes]
            for s in sorted(manifest.stats, key=lambda s: s.collection)
            if s.did == did
        ],
    }
    return _canonical(doc)


def decode_manifest(data: bytes, actor_states: Iterable[bytes] = ()) -> Manifest:
    """The manifest ``data`` holds, with the per-actor states merged in.

    Raises:
        ValueError: not a manifest of this format (every shape error becomes one).
    """
    try:
        doc = _load(data)
        partitions: dict[str, dict[str, int]] = {}
        files: dict[str, dict[str, str]] = {}
        stats: list[ActorStats] = []
        commits: dict[str, str] = {}
        for raw in actor_states:
            state = _load(raw)
            did = str(state["did"])
            commits[did] = str(state["commit"])
            for name, value in state["partitions"].items():
                rows, file = (value, LEGACY_PART_NAME) if isinstance(value, int) else value
                partitions.setdefault(str(name), {})[did] = int(rows)
                files.setdefault(str(name), {})[did] = _file_name(file)
            stats.extend(ActorStats(did, str(c), int(r), int(i), int(b)) for c, r, i, b in state["stats"])
        tables = []
        for t in doc["tables"]:
            key = TableKey(t["dataset"], t["collection"])
            schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(t["schema"])))
            rows = dict(sorted(partitions.get(key.name, {}).items()))
            names = dict(sorted(files.get(key.name, {}).items()))
            tables.append(TableEntry(key, int(t["version"]), schema, rows, names))
        known = {t.key.name for t in tables}
        for name, rows in sorted(partitions.items()):
            dataset, _, collection = name.partition("/")
            if name not in known and dataset == INVALID_DATASET:
                # Written by a concurrent run that saw invalid records of a new collection.
                names = dict(sorted(files.get(name, {}).items()))
                tables.append(
                    TableEntry(
                        TableKey(dataset, collection), 1, INVALID_SCHEMA, dict(sorted(rows.items())), names
                    )
                )
        ordered = tuple(sorted(stats, key=lambda s: (s.did, s.collection)))
        generator = str(doc["generator"])
        return Manifest(
            str(doc["commit"]), str(doc["lexicon_sha256"]), generator, tuple(tables), ordered, commits
        )
    except (KeyError, TypeError, AttributeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"malformed manifest: {exc}") from exc


def _load(data: bytes) -> dict[str, Any]:
    doc = jsoncodec.decode(data)  # CodecError is a ValueError: "malformed" to the callers
    if not isinstance(doc, dict) or doc.get("format") not in _READABLE:
        raise ValueError(f"not a lairs-etl views manifest of format {' or '.join(map(str, _READABLE))}")
    return doc


def _file_name(value: object) -> str:
    """A partition's file name as a state file gives it: a bare ``part-….parquet`` name only."""
    named = isinstance(value, str) and value.startswith("part-") and value.endswith(".parquet")
    if not named or "/" in str(value):
        raise ValueError(f"not a partition file name: {value!r}")
    return str(value)


def _canonical(doc: Mapping[str, object]) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()
