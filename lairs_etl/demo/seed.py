"""A synthetic Layers corpus on a PDS: every record type, cross-references, some invalid.

Each actor gets ``records_per_type`` records of every tracked type, filled
(:func:`~lairs_etl.demo.minimal.minimal_record` with ``fill``: by default lists of three
items, so the exploded views have annotations, tokens and judgments to show). ``at-uri``
fields point at records of the type their name designates (``corpusRef`` → a corpus,
``expression`` → an expression; see :func:`reference_target`), alternately the actor's
own and the next actor's, so the corpus holds references within and across actors; a
reference to the record's own type (an expression's ``parentRef``) points at an earlier
record, or is left out for the first, so such chains end instead of looping.
``invalid_per_actor`` consecutive records of an actor are broken on purpose (a required
field dropped, or a malformed datetime), which the PDS accepts because it does not know
the Layers lexicons: that is what validation downstream must catch. Each actor's run of
broken records starts where the previous actor's ended, so no type is broken for every
actor and each exploded view keeps valid records.

Rkeys are TIDs from a fixed start, so a plan describes its URIs before anything is
written; the same code seeds the demo, the tests and the benchmarks at any size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import JsonValue

from lairs_etl.atproto.syntax import AtUri, Did, Nsid
from lairs_etl.demo.minimal import minimal_record
from lairs_etl.errors import ConfigError
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.records import record_types
from lairs_etl.records.builders import TidSequence

__all__ = [
    "DEFAULT_FILL",
    "SeededActor",
    "SeededCorpus",
    "actor_records",
    "reference_target",
    "seed_actor",
    "seed_corpus",
]

_CREATE = "com.atproto.repo.applyWrites#create"
_START = datetime(2025, 1, 1, tzinfo=UTC)
_SUFFIXES = ("Refs", "Ref", "Uris", "Uri")
#: List items per record by default: a few KB per record at most, under any PDS limit.
DEFAULT_FILL = 3


@dataclass(frozen=True, slots=True)
class SeededActor:
    """One seeded account: its DID and handle, and the URIs written (``invalid`` ⊆ all).

    ``account`` is the logged-in account (to write more records), when seeded here.
    """

    did: Did
    handle: str
    uris: tuple[AtUri, ...]
    invalid: tuple[AtUri, ...] = ()
    account: Account | None = field(default=None, repr=False, compare=False)

    def count(self, collection: str, *, valid: bool | None = None) -> int:
        """Records written to ``collection`` (only the valid or invalid ones when asked)."""
        bad = set(self.invalid)
        return sum(
            1
            for uri in self.uris
            if uri.collection == collection and (valid is None or (uri not in bad) == valid)
        )


@dataclass(frozen=True, slots=True)
class SeededCorpus:
    """Every seeded actor; the totals are what a full refresh must find."""

    actors: tuple[SeededActor, ...] = field(default=())

    @property
    def records(self) -> int:
        """Records written in all."""
        return sum(len(a.uris) for a in self.actors)

    @property
    def invalid(self) -> int:
        """Records written broken on purpose."""
        return sum(len(a.invalid) for a in self.actors)

    @property
    def dids(self) -> tuple[Did, ...]:
        """The actors' DIDs, in seeding order."""
        return tuple(a.did for a in self.actors)


def reference_target(field_name: str, owner: str, types: Sequence[str]) -> str | None:
    """The record type an ``at-uri`` field named ``field_name`` of an ``owner`` record names.

    The field name without a ``Ref``/``Uri`` suffix is matched against the types' last
    NSID segment: equal first, then a prefix (``experiment`` → ``experimentDef``); among
    ties the owner's own namespace wins. ``None`` when nothing matches.
    """
    stem = field_name
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    stem = stem.lower()
    namespace = owner.rsplit(".", 1)[0]
    ranked = sorted(
        (
            0 if name.rsplit(".", 1)[1].lower() == stem else 1,
            0 if name.startswith(namespace + ".") else 1,
            name,
        )
        for name in types
        if name.rsplit(".", 1)[1].lower().startswith(stem)
    )
    return ranked[0][2] if ranked else None


def actor_records(
    did: str,
    *,
    records_per_type: int = 1,
    invalid: int = 0,
    peer: str | None = None,
    collections: Iterable[str] | None = None,
    clock_id: int = 0,
    fill: int = DEFAULT_FILL,
    peer_clock_id: int | None = None,
) -> tuple[list[tuple[AtUri, dict[str, JsonValue]]], list[AtUri]]:
    """The records one actor gets, addressed, and which of them are invalid.

    References alternate between ``did``'s records and ``peer``'s (same plan shape, so
    the URIs exist once the peer is seeded with the same ``records_per_type`` and
    ``clock_id`` = ``peer_clock_id``, by default ``clock_id + 1``).
    ``invalid`` consecutive records are broken, from position ``clock_id * invalid`` on
    (wrapping), so actors seeded with successive ``clock_id`` break different types.
    ``fill`` is passed to :func:`~lairs_etl.demo.minimal.minimal_record` (0: only the
    required fields); each record gets its own ``variant``, so records differ.

    Raises:
        ConfigError: ``fill`` is negative.
    """
    types = sorted(collections) if collections is not None else list(record_types())
    tids = TidSequence(start=_START, clock_id=clock_id % 1024)
    uris = {
        (nsid, i): AtUri.for_record(did, nsid, next(tids)) for i in range(records_per_type) for nsid in types
    }
    peer_clock = clock_id + 1 if peer_clock_id is None else peer_clock_id
    peer_uris = _peer_uris(peer, types, records_per_type, peer_clock) if peer else {}
    out: list[tuple[AtUri, dict[str, JsonValue]]] = []
    broken: list[AtUri] = []
    doomed = _broken_positions(records_per_type * len(types), invalid, clock_id)
    for i in range(records_per_type):
        for nsid in types:
            pick = peer_uris if (peer_uris and i % 2 == 1) else uris

            def refer(
                name: str, owner: str = nsid, index: int = i, pool: Mapping[tuple[str, int], AtUri] = pick
            ) -> str | None:
                target = reference_target(name, owner, types) or _fallback(owner, types)
                if target == owner:  # never itself, never a cycle: an earlier record or none
                    if index == 0:
                        return None
                    index -= 1
                return str(pool.get((target, index), uris[(target, index)]))

            created = f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
            variant = (clock_id * records_per_type + i) * max(fill, 1)
            record = minimal_record(nsid, refer=refer, created_at=created, fill=fill, variant=variant)
            if len(out) in doomed:
                record = _break(record, len(broken))
                broken.append(uris[(nsid, i)])
            out.append((uris[(nsid, i)], record))
    return out, broken


def _broken_positions(total: int, invalid: int, clock_id: int) -> set[int]:
    """Which of an actor's ``total`` planned records to break: a run shifted per actor."""
    count = min(max(invalid, 0), total)
    return {(clock_id * count + k) % total for k in range(count)} if total else set()


def _fallback(owner: str, types: Sequence[str]) -> str:
    """A reference whose name designates no type points at an expression (what is annotated)."""
    return reference_target("expression", owner, types) or types[0]


def _peer_uris(peer: str, types: Sequence[str], per_type: int, clock_id: int) -> dict[tuple[str, int], AtUri]:
    tids = TidSequence(start=_START, clock_id=clock_id % 1024)
    return {(nsid, i): AtUri.for_record(peer, nsid, next(tids)) for i in range(per_type) for nsid in types}


def _break(record: dict[str, JsonValue], which: int) -> dict[str, JsonValue]:
    bad = dict(record)
    if which % 2 == 0:
        bad.pop("createdAt", None)
    else:
        bad["createdAt"] = "not a datetime"
    return bad


def seed_actor(
    account: Account,
    records: Sequence[tuple[AtUri, Mapping[str, JsonValue]]],
    invalid: Sequence[AtUri] = (),
) -> SeededActor:
    """Write planned records to the account's repository (``applyWrites``, batched).

    Raises:
        XrpcError / TransportError: the PDS refused or could not be reached (earlier
            batches stay written).
    """
    writes = (
        {"$type": _CREATE, "collection": Nsid(str(uri.collection)), "rkey": uri.rkey, "value": dict(value)}
        for uri, value in records
    )
    account.apply_writes(writes)
    return SeededActor(
        account.did, str(account.handle), tuple(u for u, _ in records), tuple(invalid), account
    )


def seed_corpus(
    pds: LocalPds,
    *,
    actors: int = 3,
    records_per_type: int = 1,
    invalid_per_actor: int = 2,
    prefix: str = "demo",
    collections: Iterable[str] | None = None,
    fill: int = DEFAULT_FILL,
) -> SeededCorpus:
    """Create ``actors`` accounts on ``pds`` and seed each (see the module docstring).

    Handles are ``<prefix><n>-<random>.test``, so seeding twice never collides. ``fill``
    is how rich the records are (see :func:`actor_records`).

    Raises:
        XrpcError / TransportError: the PDS refused or could not be reached.
        ConfigError: ``fill`` is negative.
    """
    import secrets

    if fill < 0:  # before any account is created
        raise ConfigError(f"fill must be >= 0, not {fill}")
    tracked = sorted(collections) if collections is not None else None
    tag = secrets.token_hex(3)
    accounts = [pds.create_account(f"{prefix}{n}-{tag}.test") for n in range(actors)]
    seeded = []
    for n, account in enumerate(accounts):
        peer = accounts[(n + 1) % len(accounts)].did if len(accounts) > 1 else None
        records, broken = actor_records(
            account.did,
            records_per_type=records_per_type,
            invalid=invalid_per_actor,
            peer=peer,
            collections=tracked,
            clock_id=n,
            fill=fill,
            peer_clock_id=(n + 1) % len(accounts),
        )
        seeded.append(seed_actor(account, records, broken))
    return SeededCorpus(tuple(seeded))
