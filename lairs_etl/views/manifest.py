"""The lake's manifest: which tables exist at which version, from which revision, with counts.

``<lake>/_lairs_views.json`` is written last by a materialization, deterministically
(sorted keys, no clock), so a rebuilt lake is byte-identical to the one it replaces.
The warehouse reads it to define its views and its summary tables without listing the
object store; the Arrow schema of every table is kept (base64 IPC) to decide evolution.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from lairs_etl.views.layout import TableKey

__all__ = ["ActorStats", "Manifest", "TableEntry", "decode_manifest", "encode_manifest"]

_FORMAT = 1


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
    """One table at its current version: its schema and rows per actor partition."""

    key: TableKey
    version: int
    schema: pa.Schema
    partitions: Mapping[str, int] = field(default_factory=dict)

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

    def table(self, key: TableKey) -> TableEntry | None:
        """The entry of ``key``, if the lake has that table."""
        return next((entry for entry in self.tables if entry.key == key), None)


def encode_manifest(manifest: Manifest) -> bytes:
    """Canonical JSON bytes of ``manifest``."""
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
                "partitions": dict(sorted(entry.partitions.items())),
                "schema": base64.b64encode(entry.schema.serialize().to_pybytes()).decode(),
            }
            for entry in sorted(manifest.tables, key=lambda e: e.key)
        ],
        "stats": [
            [s.did, s.collection, s.records, s.invalid_records, s.bytes]
            for s in sorted(manifest.stats, key=lambda s: (s.did, s.collection))
        ],
    }
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()


def decode_manifest(data: bytes) -> Manifest:
    """The manifest ``data`` holds.

    Raises:
        ValueError: not a manifest of this format (every shape error becomes one).
    """
    try:
        doc = json.loads(data)
        if doc.get("format") != _FORMAT:
            raise ValueError(f"unsupported manifest format {doc.get('format')!r}")
        tables = tuple(
            TableEntry(
                key=TableKey(t["dataset"], t["collection"]),
                version=int(t["version"]),
                schema=pa.ipc.read_schema(pa.py_buffer(base64.b64decode(t["schema"]))),
                partitions={str(k): int(v) for k, v in t["partitions"].items()},
            )
            for t in doc["tables"]
        )
        stats = tuple(ActorStats(str(d), str(c), int(r), int(i), int(b)) for d, c, r, i, b in doc["stats"])
        return Manifest(str(doc["commit"]), str(doc["lexicon_sha256"]), str(doc["generator"]), tables, stats)
    except (KeyError, TypeError, AttributeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"malformed manifest: {exc}") from exc
