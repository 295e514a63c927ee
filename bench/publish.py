"""Publish overhead against the real local PDS, as a ratio to a bare loop of the same calls.

For each round, two fresh accounts get the same demo corpus (N records with reference
cycles, default 10,000); then, alternating which goes first:

* bare: a loop of ``applyWrites`` over a raw ``httpx.Client`` with the bodies built
  beforehand (same writes, same batching, ``swapCommit`` chained from each answer);
* publish: ``lairs_etl.publish.publish(..., apply=True)`` end to end: read the revision
  from the repository, resolve, read and verify the PDS (``getRepo``), plan, order,
  batch, log in, apply, check every result, record the PDS commit.

Prints both times, the ratio (the goal is at most 1.25), the number of calls against
⌈N/200⌉ (a reference cycle that would straddle a call boundary moves whole to the next
call, so the demo corpus can need one call more), and the time of a second publish
with nothing left to write. The PDS shares the machine, so its speed drifts between
runs; the second ratio, publish time over the applyWrites round trips inside that
same publish, measures the client's own overhead without that noise.

    .venv/bin/python bench/publish.py [--records 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
import uuid

import httpx

from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.localpds import Account, LocalPds, ensure_node_env
from lairs_etl.publish import (
    LocalRecord,
    make_plan,
    pack_calls,
    publish,
    remote_state,
)
from lairs_etl.repo.repository import Repository
from tests.publish._corpus import demo_batch


def _repo(did: str, records: int) -> Repository:
    repo = Repository.init(f"memory://bench-publish-{uuid.uuid4().hex}")
    repo.stage(did, demo_batch(did, expressions=max(1, (records - 5) // 4)).entries(), replace=True)
    repo.commit("bench corpus", "bench")
    return repo


def _bare(
    pds: LocalPds, account: Account, repo: Repository, client: XrpcClient, resolver: IdentityResolver
) -> tuple[float, int]:
    identity = resolver.resolve(account.did)
    local = {
        f"{r.uri.collection}/{r.uri.rkey}": LocalRecord(r.cid, r.value())
        for r in repo.iter_records("main", dids=[account.did])
    }
    state = remote_state(identity, client)
    plan = make_plan(local, state)
    calls = pack_calls(plan.groups, account.did, depends=plan.depends).calls
    bodies = [{"repo": account.did, "writes": [w.to_json() for w in call]} for call in calls]
    headers = {"authorization": f"Bearer {account.access_jwt}", "content-type": "application/json"}
    url = f"{pds.pds_url}/xrpc/com.atproto.repo.applyWrites"
    swap = state.commit.encode()
    with httpx.Client(timeout=120) as http:
        started = time.perf_counter()
        for body in bodies:
            answer = http.post(
                url, content=json.dumps({**body, "swapCommit": swap}, separators=(",", ":")), headers=headers
            )
            answer.raise_for_status()
            swap = answer.json()["commit"]["cid"]
        return time.perf_counter() - started, len(bodies)


class _Timing(httpx.BaseTransport):
    """Adds up the wall time of the applyWrites round trips made through it."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.apply_seconds = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self._inner.handle_request(request)
        if request.url.path.endswith("com.atproto.repo.applyWrites"):
            response.read()
            self.apply_seconds += time.perf_counter() - started
        return response

    def close(self) -> None:
        self._inner.close()


def _publish(
    account: Account, repo: Repository, client: XrpcClient, resolver: IdentityResolver, timing: _Timing
) -> tuple[float, int, float]:
    before = timing.apply_seconds
    started = time.perf_counter()
    report = publish(
        repo, "main", account.did, apply=True, client=client, resolver=resolver,
        password=functools.partial(str, account.password),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert report.writes == len(list(repo.iter_records(report.commit, dids=[account.did])))
    return elapsed, report.calls, timing.apply_seconds - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    timing = _Timing()
    with (
        LocalPds(node_env=ensure_node_env()) as pds,
        XrpcClient(transport=timing, allow_private_hosts=True) as client,
    ):
        resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
        bare_total = publish_total = inner_total = 0.0
        for round_ in range(args.rounds):
            a = pds.create_account(f"bare{uuid.uuid4().hex[:8]}.test")
            b = pds.create_account(f"pub{uuid.uuid4().hex[:8]}.test")
            repo_a, repo_b = _repo(a.did, args.records), _repo(b.did, args.records)
            n = len(list(repo_b.iter_records("main", dids=[b.did])))
            for name in ("bare", "publish") if round_ % 2 == 0 else ("publish", "bare"):
                if name == "bare":
                    seconds, calls = _bare(pds, a, repo_a, client, resolver)
                    bare_total += seconds
                    detail = ""
                else:
                    seconds, calls, inner = _publish(b, repo_b, client, resolver, timing)
                    publish_total += seconds
                    inner_total += inner
                    detail = f" (its applyWrites round trips: {inner:.2f} s)"
                print(
                    f"round {round_ + 1} {name:<7} {n} records in {calls} calls "
                    f"(ceil(N/200) = {math.ceil(n / 200)}): {seconds:.2f} s{detail}"
                )
            started = time.perf_counter()
            noop = publish(
                repo_b, "main", b.did, apply=True, client=client, resolver=resolver,
                password=functools.partial(str, b.password),
            )  # fmt: skip
            print(
                f"round {round_ + 1} re-publish (nothing to write: verified getRepo + plan): "
                f"{time.perf_counter() - started:.2f} s, {noop.writes} writes"
            )
        ratio = publish_total / bare_total
        print(f"publish / bare loop = {ratio:.3f} (goal <= 1.25): overhead {100 * (ratio - 1):.1f} %")
        inner_ratio = publish_total / inner_total
        print(
            f"publish / its own applyWrites round trips = {inner_ratio:.3f}: client overhead "
            f"{100 * (inner_ratio - 1):.1f} % (immune to the PDS slowing down between runs)"
        )


if __name__ == "__main__":
    main()
