"""Hostile peers on loopback: every failure typed, every budget kept, good actors unharmed.

Each behaviour of :class:`~tests.hostile.peer.HostilePeer` is fetched in-process with
low budgets (typed error, the limit it hit, bodies cut short); then one ``lairs-etl pull``
process takes good actors from the real PDS around a row of hostile ones, and its peak
RSS is read from the kernel (``wait4``) against a stated cap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lairs_etl.atproto.fetch import fetch_actor
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.limits import FetchLimits
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import (
    CarFormatError,
    DeadlineExceededError,
    DidDocumentError,
    FetchError,
    LairsError,
    MalformedResponseError,
    RateLimitedError,
    ResponseTooLargeError,
    UnsafeEndpointError,
)
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from tests.fixtures.pds import AccountFactory
from tests.hostile.peer import EXPRESSION, HostilePeer

_MIB = 1 << 20
LOW = {
    "request_seconds": 3,
    "actor_seconds": 6,
    "actor_bytes": 64 * _MIB,
    "records_bytes": 16 * _MIB,
    "pages": 50,
}
"""Budgets set low, so each hostile peer is cut off within seconds."""

EXPECTED: dict[str, tuple[type[LairsError] | tuple[type[LairsError], ...], str | None]] = {
    "deep-did-doc": (DidDocumentError, None),
    "huge-int-did-doc": (DidDocumentError, None),
    "gzip-bomb-did-doc": (DidDocumentError, None),
    "metadata-pds": (UnsafeEndpointError, None),
    "deep-describe": (FetchError, None),
    "deep-list-records": (MalformedResponseError, None),
    "huge-int-list-records": (MalformedResponseError, None),
    "nan-retry-after": ((RateLimitedError, DeadlineExceededError), None),
    "slow-body": (DeadlineExceededError, "request_seconds"),
    "slow-headers": (DeadlineExceededError, "request_seconds"),
    "cycling-cursors": (MalformedResponseError, None),
    "endless-cursors": (ResponseTooLargeError, "records_bytes"),
    "gzip-bomb-car": (MalformedResponseError, None),
    "gzip-bomb-json": (ResponseTooLargeError, "decompression_ratio"),
    "unreferenced-blocks": (ResponseTooLargeError, "actor_bytes"),
    "garbage-stream": (CarFormatError, None),
}
"""What each behaviour must end in: the error type and, for a spent budget, its name."""


@pytest.fixture
def low_client() -> Iterator[XrpcClient]:
    with XrpcClient(allow_private_hosts=True, limits=FetchLimits(**LOW)) as client:  # type: ignore[arg-type]
        yield client


def _resolver(client: XrpcClient) -> IdentityResolver:
    return IdentityResolver(client, plc_url="http://127.0.0.1:9")  # did:web only: the PLC is never asked


def test_a_well_behaved_peer_is_fetched_and_verified(low_client: XrpcClient) -> None:
    # The control: the harness serves a real signed repository, so every refusal below
    # is the hostility's doing.
    with HostilePeer("well-behaved") as peer:
        result = fetch_actor(peer.did, client=low_client, resolver=_resolver(low_client))
    assert result.mode == "car"
    assert result.authenticated
    assert sorted(str(r.uri).rsplit("/", 2)[1] for r in result.records) == [EXPRESSION] * 3


@pytest.mark.timeout(120)  # a broken budget hangs (slow-headers would take hours): fail fast instead
@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_each_hostile_peer_ends_in_a_typed_error_within_its_budget(
    behaviour: str, low_client: XrpcClient
) -> None:
    expected, limit = EXPECTED[behaviour]
    with HostilePeer(behaviour) as peer:
        started = time.monotonic()
        with pytest.raises(expected) as info:
            fetch_actor(peer.did, client=low_client, resolver=_resolver(low_client))
        elapsed = time.monotonic() - started
    error = info.value
    if limit is not None:
        assert getattr(error, "limit", None) == limit
    assert error.actor == str(peer.did)
    if behaviour == "deep-describe":  # the records mode needs describeRepo to name collections
        assert isinstance(error.__cause__, MalformedResponseError)
    # Bounded by the budgets (actor_seconds=6), with room for a loaded machine; the
    # unbounded behaviours (slow, endless, 2 GiB) would run for minutes.
    assert elapsed < 6 + 20, elapsed
    if behaviour in ("garbage-stream", "unreferenced-blocks"):
        assert peer.sent < 128 * _MIB  # the body was abandoned, not downloaded to its end


def _seed(account: Account, n: int = 3) -> None:
    account.bulk_create(
        EXPRESSION,
        [
            {
                "$type": EXPRESSION,
                "id": f"g{i}",
                "kind": "document",
                "text": f"good {i}",
                "createdAt": "2026-01-01T00:00:00.000Z",
            }
            for i in range(n)
        ],
    )


_CLI_REPORTING_PEAK = """
import atexit, os, sys
def report():
    with open("/proc/self/status") as status, open(os.environ["LAIRS_TEST_PEAK_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(report)
from lairs_etl.cli import main
sys.argv[0] = "lairs-etl"
main()
"""
"""``lairs-etl`` that writes its own peak RSS (``VmHWM``, KiB) on the way out. The kernel's
``ru_maxrss`` of a child would not do: it starts from the forking parent's (pytest's) RSS."""


def _run_measured(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float, int]:
    """Run ``lairs-etl ARGS``; return its status, stdout, stderr, seconds and peak RSS in bytes."""
    out, err, peak = cwd / "stdout", cwd / "stderr", cwd / "peak"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _CLI_REPORTING_PEAK, *args],
            stdout=stdout,
            stderr=stderr,
            env={**env, "LAIRS_TEST_PEAK_FILE": str(peak)},
            check=False,
        )
        elapsed = time.monotonic() - started
    return proc.returncode, out.read_text(), err.read_text(), elapsed, int(peak.read_text()) * 1024


def _is_a(name: str, cls: type[LairsError]) -> bool:
    import lairs_etl.errors as errors

    found = getattr(errors, name, None)
    return isinstance(found, type) and issubclass(found, cls)


PULL_RSS_CAP = 400 * _MIB
"""Peak RSS allowed to the pull below: good actors, 2 GiB of garbage, 256 MiB of junk
blocks, compression bombs expanding to 256 MiB, endless 4 MB pages."""


@pytest.mark.pds
@pytest.mark.slow
def test_pull_lands_the_good_actors_around_hostile_ones(
    local_pds: LocalPds, pds_account: AccountFactory, tmp_path: Path
) -> None:
    good, good2 = pds_account("good"), pds_account("good")
    _seed(good)
    _seed(good2, 2)
    hostile = [
        "deep-did-doc",
        "huge-int-list-records",
        "nan-retry-after",
        "slow-body",
        "endless-cursors",
        "gzip-bomb-json",
        "unreferenced-blocks",
        "garbage-stream",
        "metadata-pds",
    ]
    peers = [HostilePeer(b) for b in hostile]
    for peer in peers:
        peer.__enter__()
    try:
        repo = tmp_path / "repo"
        limits = [f"--limit={name}={value}" for name, value in LOW.items()]
        args = [
            "pull",
            good.did,
            *(str(p.did) for p in peers),
            good2.did,
            "--repo",
            str(repo),
            "--plc-url",
            local_pds.plc_url,
            "--allow-private-hosts",
            *limits,
        ]
        env = {**os.environ, "LAIRS_ALLOW_METADATA_HOSTS": ""}
        code, stdout, stderr, elapsed, peak = _run_measured(args, env, tmp_path)
    finally:
        for peer in peers:
            peer.__exit__(None, None, None)
    print(f"pull of 2 good + {len(peers)} hostile actors: {elapsed:.1f} s, peak RSS {peak / _MIB:.0f} MiB")
    assert code == 1, stderr  # some actors failed; the command itself did not
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    outcomes = {a["actor"]: a for a in report["actors"]}
    assert outcomes[good.did]["status"] == "committed"
    assert outcomes[good2.did]["status"] == "committed"
    for peer in peers:
        outcome = outcomes[str(peer.did)]
        assert outcome["status"] == "failed", outcome
        expected, _ = EXPECTED[peer.behaviour]
        classes = expected if isinstance(expected, tuple) else (expected,)
        assert any(_is_a(outcome["error_type"], cls) for cls in classes), (
            peer.behaviour,
            outcome["error_type"],
            outcome["error"],
        )
    stored = Repository.open(str(repo)).actors()
    assert set(stored) == {good.did, good2.did}  # nothing of any hostile actor was committed
    assert elapsed < 6 * len(peers) + 60, elapsed
    assert peak < PULL_RSS_CAP, f"peak RSS {peak / _MIB:.0f} MiB"


FETCH_RSS_CAP = 300 * _MIB
"""Peak RSS allowed to a fetch whose CAR carries 384 MiB of blocks nothing references."""


@pytest.mark.slow
def test_junk_blocks_within_the_budgets_are_fetched_in_bounded_memory(tmp_path: Path) -> None:
    # Default budgets: a repository CAR may legitimately carry blocks its tree no longer
    # references, so this one is accepted; what must hold is memory (blocks are stored
    # in batches of bytes, not of counts, and spill to disk).
    with HostilePeer("unreferenced-blocks", junk_mib=384) as peer:
        args = [
            "fetch",
            str(peer.did),
            "--mode",
            "car",
            "--plc-url",
            "http://127.0.0.1:9",
            "--allow-private-hosts",
        ]
        code, stdout, stderr, elapsed, peak = _run_measured(args, dict(os.environ), tmp_path)
    print(f"fetch of a CAR with 384 MiB of junk blocks: {elapsed:.1f} s, peak RSS {peak / _MIB:.0f} MiB")
    assert code == 0, stderr
    assert len(stdout.splitlines()) == 3
    assert peak < FETCH_RSS_CAP, f"peak RSS {peak / _MIB:.0f} MiB"
