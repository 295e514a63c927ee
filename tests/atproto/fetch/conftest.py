"""Fixtures for the fetch tests: a client and resolver aimed at the local PDS, seeded accounts,
and a mock PDS serving (possibly corrupted) bytes first fetched from the real one."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
import pytest

from lairs_etl.atproto.car import read_car, write_car
from lairs_etl.atproto.cid import Cid, parse_cid
from lairs_etl.atproto.identity import Identity, IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account, LocalPds

LAYERS = (
    "pub.layers.expression.expression",
    "pub.layers.annotation.annotationLayer",
    "pub.layers.segmentation.segmentation",
)


def layers_record(collection: str, i: int) -> dict[str, object]:
    """A record exercising the atproto JSON form: a CID link and bytes as well as text."""
    return {
        "$type": collection,
        "text": f"record {i} of {collection}",
        "index": i,
        "tokens": [{"start": j, "end": j + 1} for j in range(i % 4)],
        "ref": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
        "digest": {"$bytes": base64.b64encode(bytes([i % 256] * 5)).decode().rstrip("=")},
        "createdAt": "2026-01-01T00:00:00.000Z",
    }


def seed_layers(account: Account, per_collection: int = 4) -> None:
    for collection in LAYERS:
        account.bulk_create(collection, [layers_record(collection, i) for i in range(per_collection)])


@pytest.fixture
def layers_account(pds_account: Callable[..., Account]) -> Account:
    account = pds_account("fl")
    seed_layers(account)
    return account


@dataclass
class StaticResolver:
    """Always answers with one identity: for mock servers that are not in any PLC."""

    identity: Identity

    def resolve(self, actor: str) -> Identity:
        return self.identity


@dataclass
class MockPds:
    """Serves a repository's sync and repo endpoints from bytes held in memory.

    ``car`` is the ``getRepo`` body; ``blocks`` answer ``getBlocks``; ``records`` map a
    collection to its ``listRecords`` entries. Tests corrupt these before fetching.
    ``faults`` maps an NSID to a list of canned responses served (in order) before the
    real answer.
    """

    did: str
    head: Cid
    rev: str
    car: bytes
    blocks: dict[Cid, bytes]
    records: dict[str, list[dict[str, object]]]
    collections: list[str]
    faults: dict[str, list[Callable[[httpx.Request], httpx.Response]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.removeprefix("/xrpc/")
        self.calls.append(nsid)
        pending = self.faults.get(nsid)
        if pending:
            return pending.pop(0)(request)
        params = request.url.params
        if nsid == "com.atproto.sync.getRepo":
            return httpx.Response(200, content=self.car)
        if nsid == "com.atproto.sync.getLatestCommit":
            return httpx.Response(200, json={"cid": self.head.encode(), "rev": self.rev})
        if nsid == "com.atproto.sync.getBlocks":
            return httpx.Response(200, content=car_bytes([], self._pick(params.get_list("cids"))))
        if nsid == "com.atproto.repo.describeRepo":
            return httpx.Response(200, json={"did": self.did, "collections": self.collections})
        if nsid == "com.atproto.repo.listRecords":
            return httpx.Response(200, json={"records": self.records.get(params["collection"], [])})
        return httpx.Response(501, json={"error": "MethodNotImplemented", "message": nsid})

    def _pick(self, cids: list[str]) -> list[tuple[Cid, bytes]]:
        wanted = [parse_cid(c) for c in cids]
        return [(cid, self.blocks[cid]) for cid in wanted if cid in self.blocks]

    def client(self, **options: object) -> XrpcClient:
        settings: dict[str, object] = {"sleep": lambda _s: None, **options}
        return XrpcClient(
            transport=httpx.MockTransport(self.handler),
            allow_private_hosts=True,
            **settings,  # type: ignore[arg-type]
        )


def car_bytes(roots: list[Cid], blocks: list[tuple[Cid, bytes]]) -> bytes:
    sink = io.BytesIO()
    write_car(sink, roots, blocks)
    return sink.getvalue()


def snapshot(account: Account, local_pds: LocalPds) -> MockPds:
    """Copy an account's repository, head and record lists from the real PDS."""
    car = account.get_repo()
    reader = read_car(car)
    blocks = dict(reader)
    head = account.latest_commit()
    records = {c: [dict(r) for r in account.list_records(c)] for c in LAYERS}
    return MockPds(
        did=str(account.did),
        head=head.cid,
        rev=head.rev,
        car=car,
        blocks=blocks,
        records=records,
        collections=sorted(c for c in LAYERS if records[c]),
    )


def flip(data: bytes, at: int = -1) -> bytes:
    """The same bytes with one bit changed (default: in the last byte)."""
    raw = bytearray(data)
    raw[at] ^= 0x01
    return bytes(raw)


def rebuild_car(pds: MockPds, replace: Mapping[Cid, bytes], roots: list[Cid] | None = None) -> bytes:
    """The repository CAR with some blocks' bytes replaced under their old CIDs."""
    reader = read_car(pds.car)
    return car_bytes(
        roots if roots is not None else reader.roots, [(c, replace.get(c, b)) for c, b in reader]
    )


@dataclass(frozen=True)
class Repo:
    """A real account's repository as first fetched, and the identity that signs it."""

    pds: MockPds
    identity: Identity

    def mock(self) -> MockPds:
        """A fresh copy the test may corrupt."""
        import copy

        return copy.deepcopy(self.pds)


@pytest.fixture(scope="module")
def real_repo(local_pds: LocalPds) -> Repo:
    import secrets

    account = local_pds.create_account(f"snap{secrets.token_hex(4)}.test")
    seed_layers(account)
    with XrpcClient(allow_private_hosts=True) as c:
        identity = IdentityResolver(c, plc_url=local_pds.plc_url).resolve(account.did)
    return Repo(snapshot(account, local_pds), identity)
