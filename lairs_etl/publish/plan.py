"""The plan: the minimal writes that make the PDS hold exactly a local revision.

Records are compared by CID, so a record already identical on the PDS costs nothing.
The plan covers the tracked collections only (the Layers record types): records of
other collections on the PDS are never touched. It pins the PDS commit it was made
against (``base_commit``), which the first ``applyWrites`` passes as ``swapCommit``:
if anything else wrote in between, the PDS refuses and the plan is made again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import JsonValue

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.syntax import AtUri, Did
from lairs_etl.publish.order import order_writes

__all__ = ["Action", "LocalRecord", "Plan", "RemoteRecord", "RemoteState", "Write", "make_plan"]

Action = Literal["create", "update", "delete"]
_WRITE_TYPES: Mapping[str, str] = {
    "create": "com.atproto.repo.applyWrites#create",
    "update": "com.atproto.repo.applyWrites#update",
    "delete": "com.atproto.repo.applyWrites#delete",
}


@dataclass(frozen=True, slots=True)
class LocalRecord:
    """A record of the revision being published: its CID and JSON form."""

    cid: Cid
    value: JsonValue = field(repr=False)


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """A record on the PDS now; ``value`` orders deletes (referrers go first)."""

    cid: Cid
    value: JsonValue = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RemoteState:
    """The actor's tracked records on the PDS, read at commit ``commit`` (rev ``rev``)."""

    did: Did
    commit: Cid
    rev: str
    records: Mapping[str, RemoteRecord]


@dataclass(frozen=True, slots=True)
class Write:
    """One ``applyWrites`` operation; ``cid`` is what the record must hash to afterwards."""

    action: Action
    uri: AtUri
    cid: Cid | None = None
    value: JsonValue = field(default=None, repr=False)

    def to_json(self) -> dict[str, JsonValue]:
        """The ``com.atproto.repo.applyWrites`` entry."""
        entry: dict[str, JsonValue] = {
            "$type": _WRITE_TYPES[self.action],
            "collection": str(self.uri.collection),
            "rkey": str(self.uri.rkey),
        }
        if self.action != "delete":
            entry["value"] = self.value
        return entry

    def json_size(self) -> int:
        """Bytes this entry adds to a request body (as the XRPC client serialises it)."""
        return len(json.dumps(self.to_json(), separators=(",", ":")))


@dataclass(frozen=True, slots=True)
class Plan:
    """The writes to make, grouped and ordered.

    ``groups`` are in a valid order; each group is one strongly connected set of
    records (a reference cycle, or a single record) and goes into a single
    ``applyWrites`` call when it fits. Creates and updates come first, targets before
    referrers; deletes follow, referrers before targets. ``depends`` lets the batching
    move an independent group forward to fill a call.
    """

    did: Did
    base_commit: Cid
    base_rev: str
    groups: tuple[tuple[Write, ...], ...]
    unchanged: int
    depends: tuple[frozenset[int], ...] | None = field(default=None, repr=False)
    """Per group, the indices of the groups that must land no later (``None``: keep order)."""

    @property
    def writes(self) -> tuple[Write, ...]:
        """Every write, in order."""
        return tuple(w for group in self.groups for w in group)

    def count(self, action: Action) -> int:
        """How many writes of one kind."""
        return sum(1 for group in self.groups for w in group if w.action == action)

    @property
    def empty(self) -> bool:
        """Whether the PDS already matches the revision."""
        return not self.groups

    def summary(self) -> dict[str, object]:
        """JSON-ready counts, for the CLI and Dagster metadata."""
        return {
            "did": str(self.did),
            "base_commit": self.base_commit.encode(),
            "base_rev": self.base_rev,
            "creates": self.count("create"),
            "updates": self.count("update"),
            "deletes": self.count("delete"),
            "unchanged": self.unchanged,
            "cycles": sum(1 for group in self.groups if len(group) > 1),
        }


def make_plan(local: Mapping[str, LocalRecord], remote: RemoteState) -> Plan:
    """Compare a revision's records with the PDS's, both keyed ``collection/rkey``.

    Raises:
        InvalidIdentifier: a key is not ``collection/rkey``.
    """
    did = remote.did
    upserts: list[Write] = []
    unchanged = 0
    for key, record in local.items():
        current = remote.records.get(key)
        if current is not None and current.cid == record.cid:
            unchanged += 1
            continue
        action: Action = "create" if current is None else "update"
        upserts.append(Write(action, AtUri.for_path(did, key), record.cid, record.value))
    deletes = [
        (Write("delete", AtUri.for_path(did, key)), current.value)
        for key, current in remote.records.items()
        if key not in local
    ]
    groups, depends = order_writes(upserts, deletes)
    return Plan(did, remote.commit, remote.rev, groups, unchanged, depends)
