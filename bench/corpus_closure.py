"""A corpus found from its URI against the same accounts listed by hand: seconds and requests.

Seeds a corpus on the local reference PDS: a curator account holding the corpus record
and one membership per expression, and ``--actors`` writer accounts holding
``--expressions`` expressions between them. Then, each into a fresh repository and lake
(library, this process, best of ``--repeat``, alternating):

* **explicit**: ``sync`` of the curator and every writer, listed by DID;
* **closure**: ``sync_corpora`` of the corpus URI alone (the owner, then the accounts
  its memberships reach, then a closure that finds nothing new).

Prints seconds, the ratio closure/explicit (the target is at most 1.2) and the XRPC
calls to the PDS per actor for each (identity lookups at the PLC are the same for both
and not counted).

    .venv/bin/python bench/corpus_closure.py [--actors 200] [--expressions 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from lairs_etl.atproto.fetch.protocols import Client
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.limits import Budget, FetchLimits
from lairs_etl.atproto.xrpc import JsonValue, Params, XrpcClient
from lairs_etl.localpds import LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, SyncOptions, Target, sync, sync_corpora

EXPR = "pub.layers.expression.expression"
CORPUS = "pub.layers.corpus.corpus"
MEMBER = "pub.layers.corpus.membership"
WHEN = "2025-01-01T00:00:00.000Z"


class CountingClient:
    """A :class:`Client` that counts calls per NSID."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def limits(self) -> FetchLimits:
        return self._client.limits

    def _count(self, nsid: str) -> None:
        with self._lock:
            self.calls[nsid] += 1

    def query(
        self, service_url: str, nsid: str, params: Params | None = None, *, budget: Budget | None = None
    ) -> JsonValue:
        self._count(nsid)
        return self._client.query(service_url, nsid, params, budget=budget)

    def download(
        self,
        service_url: str,
        nsid: str,
        params: Params | None,
        sink: BinaryIO,
        *,
        max_bytes: int | None = None,
        budget: Budget | None = None,
    ) -> int:
        self._count(nsid)
        return self._client.download(service_url, nsid, params, sink, max_bytes=max_bytes, budget=budget)


def _seed(pds: LocalPds, actors: int, expressions: int) -> tuple[str, list[str]]:
    curator = pds.create_account("curator.test")
    corpus = curator.create_record(CORPUS, {"$type": CORPUS, "createdAt": WHEN, "name": "bench"})
    writers = [pds.create_account(f"writer{i:03d}.test") for i in range(actors)]
    uris: list[str] = []
    for index, writer in enumerate(writers):
        share = expressions // actors + (1 if index < expressions % actors else 0)
        records = [
            {
                "$type": EXPR,
                "createdAt": WHEN,
                "id": f"e{index}-{j}",
                "kind": "sentence",
                "text": f"Sentence {j}.",
            }
            for j in range(share)
        ]
        uris.extend(str(w.uri) for w in writer.bulk_create(EXPR, records))
    memberships = [
        {
            "$type": MEMBER,
            "createdAt": WHEN,
            "corpusRef": str(corpus.uri),
            "expressionRef": uri,
            "split": ("train", "dev", "test")[i % 3],
            "ordinal": i,
        }
        for i, uri in enumerate(uris)
    ]
    curator.bulk_create(MEMBER, memberships)
    return str(corpus.uri), [str(curator.did), *(str(w.did) for w in writers)]


def _run(pds: LocalPds, corpus: str, dids: list[str], *, closure: bool) -> tuple[float, Counter[str], int]:
    with tempfile.TemporaryDirectory() as tmp, XrpcClient(allow_private_hosts=True) as http:
        resolver = IdentityResolver(http, plc_url=pds.plc_url, handle_service=pds.pds_url)
        client = CountingClient(http)
        repository = Repository.init(str(Path(tmp) / "repo"))
        lake = LakeTarget(str(Path(tmp) / "lake"))
        started = time.perf_counter()
        if closure:
            result = sync_corpora(
                [corpus], client=client, resolver=resolver, repository=repository, lake=lake
            )
            report, synced = result.report, len(result.report.actors)
            if set(result.closures[0].actors) != set(dids):
                raise SystemExit(
                    f"the closure reached {len(result.closures[0].actors)} of {len(dids)} actors"
                )
        else:
            report = sync(
                [Target(did) for did in dids],
                client=client,
                resolver=resolver,
                repository=repository,
                lake=lake,
                options=SyncOptions(),
            )
            synced = len(report.actors)
        seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"sync failed: {report.to_json()}")
    return seconds, client.calls, synced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actors", type=int, default=200)
    parser.add_argument("--expressions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with LocalPds() as pds:
        started = time.perf_counter()
        corpus, dids = _seed(pds, args.actors, args.expressions)
        print(
            f"seeded a corpus of {args.expressions} expressions over {args.actors} actors "
            f"(+ the curator) in {time.perf_counter() - started:.0f} s"
        )
        _run(pds, corpus, dids[:2], closure=False)  # warm-up: imports (pyiceberg), first connections
        best: dict[bool, tuple[float, Counter[str], int]] = {}
        for _ in range(args.repeat):
            for closure in (False, True):
                outcome = _run(pds, corpus, dids, closure=closure)
                if closure not in best or outcome[0] < best[closure][0]:
                    best[closure] = outcome
        for closure, name in ((False, "explicit"), (True, "closure ")):
            seconds, calls, synced = best[closure]
            per_actor = sum(calls.values()) / synced
            detail = ", ".join(f"{nsid.rsplit('.', 1)[-1]} {n}" for nsid, n in sorted(calls.items()))
            print(
                f"{name}: {seconds:6.2f} s, {synced} actors, {per_actor:.2f} PDS calls per actor ({detail})"
            )
        ratio = best[True][0] / best[False][0]
        print(f"closure / explicit: {ratio:.2f}x (target <= 1.2)")


if __name__ == "__main__":
    main()
