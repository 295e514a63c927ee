"""Media blobs of tracked records: fetched from the owner's PDS, verified, kept once.

A ``pub.layers.media.media`` record's ``blob`` (audio, video, images, PDFs, up to
100 MiB) and an expression's ``mediaBlob`` are blob refs: a CID and a declared type and
size. :func:`fetch_media` looks at every blob the given actors' records reference
(:func:`~lairs_etl.records.references.blob_refs_sized`, any lexicon), and for those the
:class:`MediaPolicy` allows and the repository does not hold yet, streams
``com.atproto.sync.getBlob`` from the owner's PDS into a temporary file (never whole in
memory), hashes it, and keeps it in the repository's blob store only if the bytes are
the CID the record names. A blob whose bytes do not match is refused: reported, never
stored. One row per (record, blob) says what happened, for the ``media`` table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import functools
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.fetch.protocols import Client, Resolver
from lairs_etl.errors import BlockHashMismatch, LairsError, ResponseTooLargeError, isolated
from lairs_etl.records.references import blob_refs_sized
from lairs_etl.repo.repository import Repository

__all__ = ["MEDIA_STATUSES", "MediaPolicy", "MediaReport", "MediaRow", "fetch_media"]

#: What a row's ``status`` can say.
MEDIA_STATUSES = ("stored", "present", "skipped", "refused", "failed")
_RAW = b"\x01\x55"
_GET_BLOB = "com.atproto.sync.getBlob"


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """Which blobs to fetch: at most ``max_bytes`` each, of a MIME type matching ``mime`` patterns."""

    max_bytes: int = 100 * 1024 * 1024
    mime: tuple[str, ...] = ("audio/*", "video/*", "image/*", "application/pdf")

    def refusal(self, mime_type: str, size: int | None) -> str | None:
        """Why a blob of this declared type and size is not fetched (None: it is).

        MIME types compare without case (``Audio/WAV`` is ``audio/wav``).
        """
        if not any(fnmatch.fnmatchcase(mime_type.lower(), pattern.lower()) for pattern in self.mime):
            return f"type {mime_type or '(none)'} not in {', '.join(self.mime)}"
        if size is not None and size > self.max_bytes:
            return f"{size} bytes declared, over max_bytes {self.max_bytes}"
        return None


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One blob of one record: where it is now, and whether its bytes were checked."""

    uri: str
    did: str
    blob_cid: str
    mime_type: str
    size: int | None
    status: str
    path: str | None = None
    verified: bool = False
    fetched_at: dt.datetime | None = None
    error: str | None = None


@dataclass(slots=True)
class MediaReport:
    """Every row, the actors looked at (those without blobs too), and the bytes downloaded."""

    rows: list[MediaRow] = field(default_factory=list)
    bytes_fetched: int = 0
    actors: list[str] = field(default_factory=list)

    def rows_by_actor(self) -> dict[str, list[dict[str, object]]]:
        """Each actor looked at with its rows (none: its old rows go), for the media table."""
        out: dict[str, list[dict[str, object]]] = {did: [] for did in self.actors}
        for row in self.rows:
            out.setdefault(row.did, []).append(dataclasses.asdict(row))
        return out

    def count(self, status: str) -> int:
        """Rows with ``status`` (one of :data:`MEDIA_STATUSES`)."""
        return sum(1 for row in self.rows if row.status == status)

    def to_json(self) -> dict[str, object]:
        """Counts per status and the bytes fetched, as the CLI prints them."""
        return {"bytes_fetched": self.bytes_fetched, **{s: self.count(s) for s in MEDIA_STATUSES}}


def fetch_media(
    repository: Repository,
    dids: Iterable[str],
    *,
    client: Client,
    resolver: Resolver,
    policy: MediaPolicy | None = None,
    branch: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> MediaReport:
    """Fetch, verify and keep the blobs the records of ``dids`` reference (see the module docstring).

    Every failure is one blob's or one actor's: it is a row, and the rest go on.
    """
    policy = policy or MediaPolicy()
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    report = MediaReport()
    head = repository.head(branch)
    if head is None:
        return report
    for did in dids:
        report.actors.append(did)
        wanted: list[tuple[str, Cid, str, int | None]] = []
        for record in repository.iter_records(head, dids=[did]):
            for cid, ref in blob_refs_sized(record.value()).items():
                wanted.append((str(record.uri), cid, ref.mime_type, ref.size))
        if not wanted:
            continue
        pds = isolated(functools.partial(_pds_of, resolver, did), actor=did)
        done: dict[Cid, MediaRow] = {}  # a blob two records share is fetched once
        for uri, cid, mime, size in wanted:
            row = done.get(cid)
            if row is None:
                row = _one(repository, client, pds, did, cid, mime, size, policy, now, report)
                done[cid] = row
            report.rows.append(_for_record(row, uri))
    return report


def _pds_of(resolver: Resolver, did: str) -> str:
    return resolver.resolve(did).pds_url


def _for_record(row: MediaRow, uri: str) -> MediaRow:
    return dataclasses.replace(row, uri=uri)


def _one(  # noqa: PLR0917  # private: one blob's context, passed through
    repository: Repository,
    client: Client,
    pds: str | LairsError,
    did: str,
    cid: Cid,
    mime: str,
    size: int | None,
    policy: MediaPolicy,
    now: Callable[[], dt.datetime],
    report: MediaReport,
) -> MediaRow:
    def row(status: str, **outcome: object) -> MediaRow:
        fields: dict[str, object] = {"size": size, **outcome}
        return MediaRow("", did, cid.encode(), mime, status=status, **fields)  # type: ignore[arg-type]

    store = repository.blobs
    if store.has(cid):
        return row("present", path=store.url(cid), verified=True)
    refusal = policy.refusal(mime, size)
    if refusal is not None:
        return row("skipped", error=refusal)
    if cid.cid_bytes[:2] != _RAW:
        return row("refused", error="a blob CID must use the raw codec")
    if isinstance(pds, LairsError):
        return row("failed", error=f"{pds.type_name}: {pds}")
    params = {"did": did, "cid": cid.encode()}
    # In TMPDIR (set it to a disk, not a tmpfs, for large media): never whole in memory.
    fd, path = tempfile.mkstemp(prefix="lairs-blob-")
    try:
        with os.fdopen(fd, "w+b") as sink:
            got = isolated(
                lambda: client.download(pds, _GET_BLOB, params, sink, max_bytes=policy.max_bytes), actor=did
            )
        if isinstance(got, ResponseTooLargeError) and got.limit == "download_bytes":
            # Declared no size (or a smaller one): over max_bytes is the policy's, not a failure.
            return row("skipped", error=f"over max_bytes {policy.max_bytes} (no size declared)")
        if isinstance(got, LairsError):
            return row("failed", error=f"{got.type_name}: {got}")
        report.bytes_fetched += got
        kept = isolated(lambda: store.put_file(cid, path), actor=did)
        if isinstance(kept, BlockHashMismatch):
            return row("refused", error=str(kept))
        if isinstance(kept, LairsError):
            return row("failed", error=f"{kept.type_name}: {kept}")
        return row("stored", size=got, path=store.url(cid), verified=True, fetched_at=now())
    finally:
        os.unlink(path)
