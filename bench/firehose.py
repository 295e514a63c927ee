"""Following the firehose: verified commits per second, and createRecord-to-lake latency.

Starts the local reference PDS with ``--accounts`` accounts (default 4), each holding
one Layers expression, and batch-syncs them into fresh repositories (with and without
a lake) *before* anything is recorded, so a follower's chain starts from their state.
Then:

1. **Throughput.** The accounts make ``--commits`` small ``createRecord`` commits
   between them (default 2,000; a thread per account; the PDS manages some 50-150
   writes a second), and the frames are recorded through :class:`Subscription` from
   the cursor before the writes. Over the recorded ``#commit`` frames, in this process,
   pinned to one core, best of ``--repeat`` (interleaved; the cyclic GC paused as
   timeit does, unless ``--gc``):

   * **floor A**: ``decode_frame`` only (and, for scale, ``verify_commit`` alone over
     the commits parsed beforehand: the signature check that every floor includes);
   * **floor B**: ``decode_frame`` + ``read_blocks`` (CAR parse, sha256 of every block)
     + the signature alone (``parse_commit`` + ``verify_commit``): what any verifying
     consumer must do;
   * **full**: ``decode_frame`` + ``verify_commit_event`` (signature, ops against the
     tree, inversion to ``prevData``) + ``check_chain``, keys resolved once up front,
     the chain threaded through per actor as the follower does;
   * **follower**: :class:`Follower` end to end (``Received`` built from each frame,
     validation, the repository commit), one flush at the end (``flush_ops`` 5,000),
     without a lake and with one.

   Prints commits per second (goal: at least 2,000 verified a second on one core) and
   the ratios full/floor B and follower/full.

2. **Latency.** ``follow`` runs in a background thread (with a lake) while the main
   thread makes ``--writes`` ``createRecord`` calls ``--spacing`` seconds apart and
   polls every 20 ms until each record is in the repository's head and in the lake
   (the lake manifest's commit for the actor holds the record); "frame" is when the
   follower accepted (verified) the commit, from its ``observe`` callback. Once per
   ``--flush-seconds`` value (default 0.25 and 0.5). Prints median and p90 (goal: a
   median of at most 2 s).

    .venv/bin/python bench/firehose.py [--commits 2000] [--accounts 4] [--repeat 3]
        [--writes 20] [--spacing 0.75] [--flush-seconds 0.25 0.5] [--gc] [--profile]
        [--skip-latency]

``--profile`` runs the full verification once more under pyinstrument and prints the
call tree.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.commit import Commit, parse_commit, verify_commit
from lairs_etl.atproto.crypto import PublicKey, public_key_from_verification_method
from lairs_etl.atproto.firehose.client import Received, Subscription
from lairs_etl.atproto.firehose.frames import CommitEvent, decode_frame
from lairs_etl.atproto.firehose.verify import check_chain, read_blocks, verify_commit_event
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import LairsError
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import LakeTarget, Target, sync
from lairs_etl.sync.follow import Follower, FollowOptions, FollowReport, follow
from lairs_etl.views import read_manifest

EXPRESSION = "pub.layers.expression.expression"
WHEN = "2026-01-01T00:00:00.000Z"
POLL = 0.02
"""Seconds between two looks at the repository and the lake in the latency part."""

Chain = dict[str, tuple[str | None, Cid | None]]


def _expression(text: str) -> dict[str, object]:
    return {"$type": EXPRESSION, "createdAt": WHEN, "kind": "sentence", "text": text}


@dataclass
class Synced:
    """A repository (and maybe a lake) batch-synced with the accounts before the writes."""

    repo: str
    lake: str | None


@dataclass
class Recording:
    """The ``#commit`` frames of the writes, and what else the stream held."""

    commits: list[bytes]
    others: Counter[str] = field(default_factory=Counter)
    write_seconds: float = 0.0


def _batch_sync(
    dids: Sequence[str], client: XrpcClient, resolver: IdentityResolver, root: Path, *, lake: bool
) -> Synced:
    repo_path = tempfile.mkdtemp(prefix="repo-", dir=root)
    lake_path = tempfile.mkdtemp(prefix="lake-", dir=root) if lake else None
    report = sync(
        [Target(did) for did in dids],
        client=client,
        resolver=resolver,
        repository=Repository.init(repo_path),
        lake=None if lake_path is None else LakeTarget(lake_path),
    )
    if not report.ok:
        raise SystemExit(f"batch sync failed: {report.to_json()}")
    return Synced(repo_path, lake_path)


def _close(frames: Iterator[Received | None]) -> None:
    """End a subscription's generator now (it closes the websocket)."""
    if isinstance(frames, Generator):
        frames.close()


def head_seq(pds_url: str) -> int | None:
    """The seq of the newest event the PDS has sequenced (read once through the stream)."""
    subscription = Subscription(pds_url, cursor=0, allow_private_hosts=True)
    frames = subscription.frames(tick=1.0)
    try:
        for received in frames:
            if received is None:
                break
    finally:
        _close(frames)
    return subscription.cursor


def _write(accounts: Sequence[Account], total: int) -> float:
    """``total`` createRecord calls spread over ``accounts``, a thread each; seconds taken."""
    errors: list[BaseException] = []

    def work(index: int, account: Account) -> None:
        share = total // len(accounts) + (1 if index < total % len(accounts) else 0)
        try:
            for n in range(share):
                account.create_record(EXPRESSION, _expression(f"Sentence {n} of writer {index}."))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(accounts)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"createRecord failed: {errors[0]!r}")
    return time.perf_counter() - started


def _record(pds_url: str, cursor: int | None, dids: set[str], expected: int) -> Recording:
    """The frames after ``cursor``, up to the first quiet second after ``expected`` commits."""
    recording = Recording([])
    subscription = Subscription(pds_url, cursor=cursor, allow_private_hosts=True)
    frames = subscription.frames(until=time.monotonic() + 300, tick=1.0)
    try:
        for received in frames:
            if received is None:
                if len(recording.commits) >= expected:
                    break
                continue
            event = received.event
            if isinstance(event, CommitEvent) and event.repo in dids:
                recording.commits.append(received.raw)
            else:
                recording.others[type(event).__name__] += 1
    finally:
        _close(frames)
    if len(recording.commits) < expected:
        raise SystemExit(f"recorded {len(recording.commits)} of {expected} commit frames")
    return recording


def _best(fn: Callable[[], object], *, collect: bool) -> float:
    gc.collect()
    if not collect:
        gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    finally:
        gc.enable()


def _floor_a(frames: Sequence[bytes]) -> None:
    for raw in frames:
        decode_frame(raw)


def _floor_b(frames: Sequence[bytes], keys: dict[str, PublicKey]) -> None:
    for raw in frames:
        event = decode_frame(raw)
        assert isinstance(event, CommitEvent)
        blocks = read_blocks(event.blocks)
        verify_commit(parse_commit(blocks[event.commit]), keys[event.repo])


def _signatures(commits: Sequence[tuple[Commit, PublicKey]]) -> None:
    for commit, key in commits:
        verify_commit(commit, key)


def _full(frames: Sequence[bytes], keys: dict[str, PublicKey], start: Chain) -> Counter[str]:
    """Verify and chain every frame; the reasons of those refused (none expected)."""
    chain = dict(start)
    refused: Counter[str] = Counter()
    for raw in frames:
        event = decode_frame(raw)
        assert isinstance(event, CommitEvent)
        try:
            verified = verify_commit_event(event, keys[event.repo])
            held_rev, held_data = chain[event.repo]
            check_chain(verified, held_rev, held_data)
        except LairsError as exc:
            refused[exc.type_name] += 1
            continue
        chain[event.repo] = (verified.rev, verified.data)
    return refused


def _follower(
    frames: Sequence[bytes],
    synced: Synced,
    client: XrpcClient,
    resolver: IdentityResolver,
    *,
    collect: bool,
) -> tuple[float, FollowReport]:
    follower = Follower(
        repository=Repository.open(synced.repo),
        resolver=resolver,
        client=client,
        lake=None if synced.lake is None else LakeTarget(synced.lake),
        follow=FollowOptions(flush_ops=5_000, flush_seconds=3600.0),
    )
    reports: list[FollowReport] = []
    seconds = _best(
        lambda: reports.append(follower.run(Received(raw, decode_frame(raw)) for raw in frames)),
        collect=collect,
    )
    return seconds, reports[0]


def _chain_of(synced: Synced) -> Chain:
    repo = Repository.open(synced.repo)
    return {did: (state.pds_rev, state.pds_data) for did, state in repo.actors(repo.head()).items()}


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:9,.0f} commits/s ({seconds * 1000:7.1f} ms)"


def _throughput(
    args: argparse.Namespace,
    recording: Recording,
    keys: dict[str, PublicKey],
    chain: Chain,
    followers: list[tuple[Synced, Synced]],
    client: XrpcClient,
    resolver: IdentityResolver,
) -> None:
    frames = recording.commits
    n = len(frames)
    events = [decode_frame(raw) for raw in frames]
    commits = [e for e in events if isinstance(e, CommitEvent)]
    sizes = sorted(len(raw) for raw in frames)
    print(
        f"recorded {n} #commit frames: median {statistics.median(sizes):.0f} B, "
        f"max {sizes[-1]} B, ops {Counter(len(e.ops) for e in commits)}, "
        f"without prevData {sum(e.prev_data is None for e in commits)}, "
        f"genesis (no since) {sum(e.since is None for e in commits)}, "
        f"tooBig {sum(e.too_big for e in commits)}; other frames {dict(recording.others) or 'none'}"
    )
    refused = _full(frames, keys, chain)
    print(f"full verification refused: {dict(refused) or 'none'}")
    pinned = False
    if hasattr(os, "sched_setaffinity"):
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(previous)})
        pinned = True
    try:
        best: dict[str, float] = {}
        last: dict[str, FollowReport] = {}
        signed = [(parse_commit(read_blocks(e.blocks)[e.commit]), keys[e.repo]) for e in commits]
        runs: dict[str, Callable[[], object]] = {
            "signature": lambda: _signatures(signed),
            "floor A": lambda: _floor_a(frames),
            "floor B": lambda: _floor_b(frames, keys),
            "full": lambda: _full(frames, keys, chain),
        }
        for repeat in range(args.repeat):
            for name, fn in runs.items():
                seconds = _best(fn, collect=args.gc)
                best[name] = min(best.get(name, seconds), seconds)
            plain, with_lake = followers[repeat]
            for name, synced in (("follower", plain), ("follower+lake", with_lake)):
                if name == "follower+lake" and args.skip_lake:
                    continue
                seconds, report = _follower(frames, synced, client, resolver, collect=args.gc)
                if not report.ok or report.commits != n or report.rejected:
                    raise SystemExit(f"{name} did not apply every commit: {report.to_json()}")
                best[name] = min(best.get(name, seconds), seconds)
                last[name] = report
    finally:
        if pinned:
            os.sched_setaffinity(0, previous)
    gc_note = "gc on" if args.gc else "gc paused"
    core = "pinned to one core" if pinned else "not pinned"
    print(f"per frame, {core}, best of {args.repeat}, {gc_note}, {n} commits:")
    labels = {
        "signature": "(verify_commit alone, parsed commits)",
        "floor A": "floor A   decode_frame",
        "floor B": "floor B   decode + blocks + signature",
        "full": "full      decode + verify_commit_event + chain",
        "follower": "follower  no lake (+ validation, commit)",
        "follower+lake": "follower  with lake",
    }
    for name, label in labels.items():
        if name in best:
            print(f"  {label:46}: {_rate(n, best[name])}")
    print(f"  full / floor B (rate): {best['floor B'] / best['full']:.2f}  (goal: full >= 2,000 commits/s)")
    print(f"  full / signature alone (rate): {best['signature'] / best['full']:.2f}")
    print(f"  follower / full (rate): {best['full'] / best['follower']:.2f}")
    if "follower+lake" in best:
        print(f"  follower+lake / follower (rate): {best['follower'] / best['follower+lake']:.2f}")
    for name, report in last.items():
        print(f"  {name} report: commits {report.commits}, ops {report.ops}, syncs {len(report.syncs)}")
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(3):
                _full(frames, keys, chain)
        print(profiler.output_text(unicode=False, color=False, show_all=False))


@dataclass
class Seen:
    """One latency write: when it was asked for and when it showed up."""

    uri: str
    did: str
    asked: float
    acked: float
    frame: float | None = None
    repo: float | None = None
    lake: float | None = None


def _contains(repo: Repository, commit: str, did: str, uri: str, cache: dict[tuple[str, str], bool]) -> bool:
    key = (commit, uri)
    if key not in cache:
        cache[key] = uri in repo.read_records(Cid.decode(commit), did, [uri])
    return cache[key]


def _latency(
    args: argparse.Namespace,
    pds: LocalPds,
    accounts: Sequence[Account],
    client: XrpcClient,
    resolver: IdentityResolver,
    root: Path,
    flush_seconds: float,
) -> None:
    synced = _batch_sync([str(a.did) for a in accounts], client, resolver, root, lake=True)
    assert synced.lake is not None
    cursor = head_seq(pds.pds_url)
    window = 2.0 + args.writes * args.spacing + 10.0
    outcome: list[FollowReport | BaseException] = []
    accepted: list[tuple[float, str]] = []

    def observe(seq: int | None, did: str | None, verdict: str) -> None:
        if verdict == "accepted" and did is not None:
            accepted.append((time.perf_counter(), did))

    def run() -> None:
        try:
            outcome.append(
                follow(
                    pds.pds_url,
                    repository=Repository.open(synced.repo),
                    resolver=resolver,
                    client=client,
                    lake=LakeTarget(synced.lake or ""),
                    follow_options=FollowOptions(flush_seconds=flush_seconds),
                    cursor=cursor,
                    seconds=window,
                    allow_private_hosts=True,
                    observe=observe,
                )
            )
        except BaseException as exc:  # reported by the main thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name="follow")
    deadline = time.perf_counter() + window
    thread.start()
    time.sleep(1.0)  # connected and waiting
    repo = Repository.open(synced.repo)
    cache: dict[tuple[str, str], bool] = {}
    seen: list[Seen] = []
    for index in range(args.writes):
        if deadline - time.perf_counter() < 8.0:
            print(f"  stopped after {index} writes: the follower's window is closing")
            break
        account = accounts[index % len(accounts)]
        asked = time.perf_counter()
        written = account.create_record(EXPRESSION, _expression(f"Latency probe {index}."))
        entry = Seen(str(written.uri), str(account.did), asked, time.perf_counter())
        seen.append(entry)
        while (entry.repo is None or entry.lake is None) and time.perf_counter() - asked < 6.0:
            now = time.perf_counter()
            if entry.repo is None:
                head = repo.head()
                if head is not None and _contains(repo, head.encode(), entry.did, entry.uri, cache):
                    entry.repo = now - asked
            if entry.lake is None:
                try:
                    manifest = read_manifest(synced.lake)
                except LairsError:  # caught mid-write: look again
                    manifest = None
                commit = None if manifest is None else manifest.actor_commits.get(entry.did)
                if commit is not None and _contains(repo, commit, entry.did, entry.uri, cache):
                    entry.lake = now - asked
            time.sleep(POLL)
        time.sleep(max(0.0, asked + args.spacing - time.perf_counter()))
    thread.join()
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    for entry in seen:  # the first commit of its actor accepted after it was asked for
        entry.frame = next(
            (t - entry.asked for t, did in accepted if did == entry.did and t > entry.asked), None
        )
    acks = [s.acked - s.asked for s in seen]
    print(
        f"latency, flush_seconds {flush_seconds}: {len(seen)} writes {args.spacing} s apart; "
        f"createRecord round trip median {statistics.median(acks) * 1000:.0f} ms; "
        f"follower: commits {result.commits}, rejected {dict(result.rejected) or 'none'}, "
        f"resynced {len(result.resynced)}, flushes {len(result.syncs)}, ok {result.ok}"
    )
    for name in ("frame", "repo", "lake"):
        values = sorted(getattr(s, name) for s in seen if getattr(s, name) is not None)
        missing = len(seen) - len(values)
        unseen = f", {missing} not seen within 6 s" if missing else ""
        if not values:
            print(f"  {name}: never seen")
            continue
        p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
        print(
            f"  createRecord -> {name:5}: median {statistics.median(values):.3f} s, p90 {p90:.3f} s, "
            f"max {values[-1]:.3f} s{unseen} (goal: median <= 2 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=0.75)
    parser.add_argument("--flush-seconds", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--gc", action="store_true", help="leave the cyclic GC on while timing")
    parser.add_argument("--profile", action="store_true", help="profile the full verification")
    parser.add_argument("--skip-lake", action="store_true", help="no follower-with-lake timing")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    with (
        LocalPds() as pds,
        tempfile.TemporaryDirectory() as tmp,
        XrpcClient(allow_private_hosts=True) as client,
    ):
        root = Path(tmp)
        resolver = IdentityResolver(client, plc_url=pds.plc_url, handle_service=pds.pds_url)
        accounts = [pds.create_account(f"fh{i}.test") for i in range(args.accounts)]
        for account in accounts:
            account.create_record(EXPRESSION, _expression("Before the stream."))
        dids = [str(a.did) for a in accounts]
        keys: dict[str, PublicKey] = {}
        for did in dids:
            method = resolver.resolve(did).signing_key
            keys[did] = public_key_from_verification_method(
                {"type": method.type, "publicKeyMultibase": method.public_key_multibase}
            )
        started = time.perf_counter()
        followers = [
            (
                _batch_sync(dids, client, resolver, root, lake=False),
                _batch_sync(dids, client, resolver, root, lake=True),
            )
            for _ in range(args.repeat)
        ]
        chain = _chain_of(followers[0][0])
        print(
            f"{args.accounts} accounts batch-synced into {2 * args.repeat} repositories "
            f"in {time.perf_counter() - started:.1f} s"
        )
        cursor = head_seq(pds.pds_url)
        write_seconds = _write(accounts, args.commits)
        print(
            f"{args.commits} createRecord calls in {write_seconds:.1f} s "
            f"({args.commits / write_seconds:.0f} writes/s, {args.accounts} threads)"
        )
        recording = _record(pds.pds_url, cursor, set(dids), args.commits)
        _throughput(args, recording, keys, chain, followers, client, resolver)
        if not args.skip_latency:
            for flush_seconds in args.flush_seconds:
                _latency(args, pds, accounts, client, resolver, root, flush_seconds)


if __name__ == "__main__":
    main()
