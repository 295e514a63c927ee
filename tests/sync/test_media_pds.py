"""Media blobs from the real PDS: fetched, verified against their CIDs, kept once, listed, collected."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from lairs_etl.atproto.cid import cid_for_raw
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.cli import main
from lairs_etl.localpds import Account, LocalPds
from lairs_etl.repo.repository import Repository
from lairs_etl.sync import Target, sync
from lairs_etl.sync.media import MediaPolicy, MediaReport, fetch_media
from lairs_etl.views import build_warehouse, run_query
from tests.sync._helpers import cli_env

pytestmark = pytest.mark.pds

MEDIA = "pub.layers.media.media"
EXPR = "pub.layers.expression.expression"
WHEN = "2026-01-01T00:00:00.000Z"
AUDIO = b"RIFF" + bytes(range(256)) * 40  # not a playable WAV, but bytes with a type
IMAGE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def speaker(pds_account: Callable[..., Account]) -> Account:
    """An account with an audio blob referenced twice and an image blob."""
    account = pds_account("spk")
    audio = account.upload_blob(AUDIO, "audio/wav")
    image = account.upload_blob(IMAGE, "image/png")
    clip = account.create_record(MEDIA, {"$type": MEDIA, "createdAt": WHEN, "kind": "audio", "blob": audio})
    account.create_record(MEDIA, {"$type": MEDIA, "createdAt": WHEN, "kind": "image", "blob": image})
    expression = {
        "$type": EXPR,
        "createdAt": WHEN,
        "id": "s1",
        "kind": "utterance",
        "text": "hello",
        "mediaRef": str(clip.uri),
        "mediaBlob": audio,
    }
    account.create_record(EXPR, expression)
    return account


def _resolver(local_pds: LocalPds, client: XrpcClient) -> IdentityResolver:
    return IdentityResolver(client, plc_url=local_pds.plc_url, handle_service=local_pds.pds_url)


def _synced(local_pds: LocalPds, account: Account, url: str) -> Repository:
    repo = Repository.init(url)
    with XrpcClient(allow_private_hosts=True) as client:
        report = sync(
            [Target(account.did)], client=client, resolver=_resolver(local_pds, client), repository=repo
        )
    assert report.ok, report.to_json()
    return repo


def _fetch(local_pds: LocalPds, repo: Repository, did: str, **policy: Any) -> MediaReport:
    with XrpcClient(allow_private_hosts=True) as client:
        return fetch_media(
            repo, [did], client=client, resolver=_resolver(local_pds, client), policy=MediaPolicy(**policy)
        )


def test_blobs_are_fetched_verified_kept_once_and_collected(
    local_pds: LocalPds, speaker: Account, tmp_path: Path
) -> None:
    repo = _synced(local_pds, speaker, str(tmp_path / "repo"))
    audio_cid = cid_for_raw(AUDIO)
    first = _fetch(local_pds, repo, speaker.did, mime=("audio/*",))
    by_status = {row.status for row in first.rows}
    assert by_status == {"stored", "skipped"}  # the image's type is not asked for
    stored = [row for row in first.rows if row.status == "stored"]
    assert {row.uri.split("/")[3] for row in stored} == {MEDIA, EXPR}  # one blob, two records
    assert {row.blob_cid for row in stored} == {audio_cid.encode()}
    assert all(row.verified and row.size == len(AUDIO) for row in stored)
    assert first.bytes_fetched == len(AUDIO)  # fetched once for both records
    [skipped] = [row for row in first.rows if row.status == "skipped"]
    assert "image/png" in (skipped.error or "")
    with repo.storage.open(f"blobs/{audio_cid.encode()}") as fh:
        assert fh.read() == AUDIO
    # A second pass finds it kept and downloads nothing.
    again = _fetch(local_pds, repo, speaker.did, mime=("audio/*",))
    assert {row.status for row in again.rows if row.blob_cid == audio_cid.encode()} == {"present"}
    assert again.bytes_fetched == 0
    report = repo.fsck()
    assert report.ok
    assert report.blobs == 1
    # gc keeps a blob live records reference; once they are gone from every ref, it goes.
    assert repo.gc(grace_seconds=0).deleted == []
    assert repo.blobs.has(audio_cid)
    for record in speaker.list_records(MEDIA) + speaker.list_records(EXPR):
        _, _, _, collection, rkey = record["uri"].split("/")
        speaker.delete_record(collection, rkey)
    with XrpcClient(allow_private_hosts=True) as client:
        sync([Target(speaker.did)], client=client, resolver=_resolver(local_pds, client), repository=repo)
    collected = repo.gc(grace_seconds=0)
    assert f"blobs/{audio_cid.encode()}" in collected.deleted
    assert not repo.blobs.has(audio_cid)


def test_damaged_stored_blob_is_found_by_fsck(local_pds: LocalPds, speaker: Account, tmp_path: Path) -> None:
    repo = _synced(local_pds, speaker, str(tmp_path / "repo"))
    _fetch(local_pds, repo, speaker.did)
    key = f"blobs/{cid_for_raw(AUDIO).encode()}"
    repo.storage.put(key, AUDIO[:-1] + b"!")
    report = repo.fsck()
    assert not report.ok
    assert any(key in problem for problem in report.problems)


@contextmanager
def _tampering_proxy(upstream: str) -> Iterator[str]:
    """A loopback proxy to the PDS that flips one byte of every blob it relays."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = httpx.get(upstream + self.path, timeout=30)
            body = answer.content
            if self.path.startswith("/xrpc/com.atproto.sync.getBlob") and body:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            self.send_response(answer.status_code)
            self.send_header("content-type", answer.headers.get("content-type", "application/octet-stream"))
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Via:
    """A resolver whose identities name another PDS URL (the proxy in front of the real one)."""

    def __init__(self, resolver: IdentityResolver, pds_url: str) -> None:
        self._resolver = resolver
        self._pds_url = pds_url

    def resolve(self, actor: str) -> Any:
        return dataclasses.replace(self._resolver.resolve(actor), pds_url=self._pds_url)


def test_a_tampered_blob_is_refused_and_never_stored(
    local_pds: LocalPds, speaker: Account, tmp_path: Path
) -> None:
    repo = _synced(local_pds, speaker, str(tmp_path / "repo"))
    with _tampering_proxy(local_pds.pds_url) as proxy, XrpcClient(allow_private_hosts=True) as client:
        report = fetch_media(
            repo, [speaker.did], client=client, resolver=_Via(_resolver(local_pds, client), proxy)
        )
    refused = [row for row in report.rows if row.status == "refused"]
    assert {row.blob_cid for row in refused} == {cid_for_raw(AUDIO).encode(), cid_for_raw(IMAGE).encode()}
    assert all("hash" in (row.error or "") and not row.verified and row.path is None for row in refused)
    assert list(repo.blobs.stored()) == []


def test_cli_sync_media_lists_blobs_in_the_lake(
    local_pds: LocalPds, speaker: Account, tmp_path: Path
) -> None:
    env = cli_env(local_pds)
    repo, lake, db = str(tmp_path / "repo"), str(tmp_path / "lake"), str(tmp_path / "w.duckdb")
    args = ["sync", speaker.did, "--repo", repo, "--lake", lake, "--media", "--warehouse", db]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["media"]["stored"] == 3  # the audio for two records, the image
    assert summary["media"]["table_rows"] == 3
    rows = run_query(db, "SELECT mime_type, status, verified, path FROM media ORDER BY mime_type").to_pylist()
    assert [(r["mime_type"], r["status"], r["verified"]) for r in rows] == [
        ("audio/wav", "stored", True),
        ("audio/wav", "stored", True),
        ("image/png", "stored", True),
    ]
    paths = run_query(db, "SELECT blob_cid, path FROM media").to_pylist()
    for row in paths:  # each path is the blob's absolute URL in the repository's blobs/
        assert row["path"] == f"file://{tmp_path / 'repo'}/blobs/{row['blob_cid']}"
        assert (tmp_path / "repo" / "blobs" / str(row["blob_cid"])).is_file()
    build_warehouse(lake, db)  # rebuilt from the lake alone: the media table is the lake's
    assert run_query(db, "SELECT count(*) AS n FROM media").to_pylist() == [{"n": 3}]


# VmHWM, the peak RSS of this process's own memory (ru_maxrss would start at the parent's
# at the fork: pytest's, holding the 100 MiB it uploaded).
_RSS_SCRIPT = """
import json, sys
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
from lairs_etl.atproto.identity import IdentityResolver
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.repo.repository import Repository
from lairs_etl.sync.media import fetch_media
plc, pds, repo_url, did = sys.argv[1:5]
repo = Repository.open(repo_url)
before = peak_kb()
with XrpcClient(allow_private_hosts=True) as client:
    resolver = IdentityResolver(client, plc_url=plc, handle_service=pds)
    report = fetch_media(repo, [did], client=client, resolver=resolver)
print(json.dumps({"before_kb": before, "peak_kb": peak_kb(),
                  "statuses": [r.status for r in report.rows], "bytes": report.bytes_fetched}))
"""


@pytest.mark.slow
def test_a_100_mb_blob_streams_in_bounded_memory(
    local_pds: LocalPds, pds_account: Callable[..., Account], tmp_path: Path
) -> None:
    account = pds_account("big")
    data = os.urandom(1 << 20) * 100  # 100 MiB
    blob = account.upload_blob(data, "video/mp4")
    account.create_record(MEDIA, {"$type": MEDIA, "createdAt": WHEN, "kind": "video", "blob": blob})
    del data
    url = str(tmp_path / "repo")
    _synced(local_pds, account, url)
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, local_pds.plc_url, local_pds.pds_url, url, account.did],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout)
    assert measured["statuses"] == ["stored"]
    assert measured["bytes"] == 100 << 20
    assert measured["peak_kb"] < 200 * 1024, measured  # the blob never sits in memory ...
    assert measured["peak_kb"] - measured["before_kb"] < 32 * 1024, measured  # ... nor a tenth of it


def test_an_undeclared_size_over_the_limit_is_skipped_and_stale_rows_go(
    local_pds: LocalPds, speaker: Account, tmp_path: Path
) -> None:
    repo = _synced(local_pds, speaker, str(tmp_path / "repo"))
    report = _fetch(local_pds, repo, speaker.did, max_bytes=len(IMAGE) + 1)
    # The records declare each blob's size, so the audio is skipped before any download ...
    assert {r.status for r in report.rows if r.mime_type == "audio/wav"} == {"skipped"}
    assert report.bytes_fetched == len(IMAGE)
    # ... and a blob whose record declares no size is cut off at max_bytes, and skipped too.
    [audio] = [r for r in speaker.list_records(MEDIA) if r["value"]["kind"] == "audio"]
    undeclared = {**audio["value"], "blob": {k: v for k, v in audio["value"]["blob"].items() if k != "size"}}
    speaker.put_record(MEDIA, audio["uri"].rsplit("/", 1)[1], undeclared)
    with XrpcClient(allow_private_hosts=True) as client:
        sync([Target(speaker.did)], client=client, resolver=_resolver(local_pds, client), repository=repo)
    again = _fetch(local_pds, repo, speaker.did, max_bytes=len(IMAGE) + 1)
    [cut] = [r for r in again.rows if r.uri == audio["uri"]]
    assert cut.status == "skipped"
    assert "max_bytes" in (cut.error or "")
    # An actor whose records reference no blob any more keeps no media rows.
    assert again.rows_by_actor()[speaker.did]
    for record in speaker.list_records(MEDIA) + speaker.list_records(EXPR):
        speaker.delete_record(record["uri"].split("/")[3], record["uri"].split("/")[4])
    with XrpcClient(allow_private_hosts=True) as client:
        sync([Target(speaker.did)], client=client, resolver=_resolver(local_pds, client), repository=repo)
    gone = _fetch(local_pds, repo, speaker.did)
    assert gone.rows == []
    assert gone.rows_by_actor() == {speaker.did: []}
