"""Sync the pinned lexicon tree into ``lexicons/cache`` from a folder, an archive or a URL.

Sources: a folder holding ``pub/layers``, the ``pub/layers`` folder itself, or a
``.tar.gz``/``.zip`` archive (file or http(s) URL) with ``pub/layers`` anywhere inside,
such as GitHub's archive of the pinned commit. The tree is checked against the pin before
it replaces the cache, so a mismatch leaves the cache as it was.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import httpx

from lairs_etl._codegen.manifest import LexiconPin, read_pin, write_pin
from lairs_etl._codegen.tree import LEXICON_PREFIX, TreeSummary, lexicons_dir, summarize_tree
from lairs_etl.errors import LexiconError, LexiconPinMismatch

__all__ = ["MAX_ARCHIVE_BYTES", "sync_lexicons"]

#: Largest archive we download or unpack (the Layers tree is well under 1 MiB).
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


def sync_lexicons(
    source: str | Path | None = None,
    *,
    update: bool = False,
    base: Path | None = None,
    client: httpx.Client | None = None,
    archive_url: str | None = None,
) -> TreeSummary:
    """Copy a lexicon tree into ``<base>/cache`` after checking it against the pin.

    ``source`` defaults to the pinned revision's archive: ``archive_url`` when given (a
    mirror, or a test server), else GitHub's tarball of the pinned commit. With ``update``
    the pin is rewritten to the new tree's hash and counts instead of being checked.
    ``base`` is the ``lexicons/`` folder (default :func:`lexicons_dir`); ``client``
    downloads URLs.

    Raises:
        LexiconPinMismatch: the tree's hash is not the pinned one (``expected``/``actual``).
        LexiconError: the source is unreadable, has no ``pub/layers``, or the download failed.
    """
    base = base or lexicons_dir()
    pin_path = base / "manifest.json"
    pin = read_pin(pin_path)
    with tempfile.TemporaryDirectory(prefix="lairs-lexicons-") as scratch:
        origin = source if source is not None else archive_url or pin.archive_url
        root = _materialize(origin, Path(scratch), client)
        summary = summarize_tree(root)
        if update:
            write_pin(
                pin_path,
                LexiconPin(pin.repository, pin.path, pin.revision, summary.sha256, summary.counts()),
            )
        elif summary.sha256 != pin.sha256:
            raise LexiconPinMismatch(
                f"lexicon tree hash mismatch: expected {pin.sha256}, got {summary.sha256}",
                expected=pin.sha256,
                actual=summary.sha256,
            )
        _install(root, base / "cache")
    return summary


def _materialize(source: str | Path, scratch: Path, client: httpx.Client | None) -> Path:
    """A tree root (folder holding ``pub/layers``) for ``source``, unpacked under ``scratch``."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        archive = scratch / ("download.zip" if text.endswith(".zip") else "download.tar.gz")
        _download(text, archive, client)
        return _unpack(archive, scratch / "unpacked")
    path = Path(source)
    if path.is_file():
        return _unpack(path, scratch / "unpacked")
    if (path / LEXICON_PREFIX).is_dir():
        return path
    if path.is_dir() and path.resolve().as_posix().endswith(f"/{LEXICON_PREFIX}"):
        return path.resolve().parents[1]
    raise LexiconError(f"{source} is neither a lexicon tree (with {LEXICON_PREFIX}) nor an archive")


def _download(url: str, target: Path, client: httpx.Client | None) -> None:
    own = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=60.0)
    try:
        with http.stream("GET", url) as response:
            response.raise_for_status()
            size = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ARCHIVE_BYTES:
                        raise LexiconError(f"{url} is larger than {MAX_ARCHIVE_BYTES} bytes")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise LexiconError(f"cannot download lexicons from {url}: {exc}") from exc
    finally:
        if own:
            http.close()


def _unpack(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for name in zipped.namelist():
                    _check_member(name)
                if sum(info.file_size for info in zipped.infolist()) > MAX_ARCHIVE_BYTES:
                    raise LexiconError(f"{archive} unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
                zipped.extractall(target)  # noqa: S202 - every member name was checked above
        else:
            with tarfile.open(archive, "r:*") as tarred:
                members = tarred.getmembers()
                if sum(member.size for member in members) > MAX_ARCHIVE_BYTES:
                    raise LexiconError(f"{archive} unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
                tarred.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise LexiconError(f"cannot unpack lexicon archive {archive}: {exc}") from exc
    candidates = sorted(
        (path.parents[1] for path in target.rglob("layers") if path.is_dir() and path.parent.name == "pub"),
        key=lambda path: len(path.parts),
    )
    if not candidates:
        raise LexiconError(f"no {LEXICON_PREFIX} folder in {archive}")
    return candidates[0]


def _check_member(name: str) -> None:
    posix = PurePosixPath(name)
    if posix.is_absolute() or ".." in posix.parts:
        raise LexiconError(f"unsafe path in lexicon archive: {name!r}")


def _install(root: Path, cache: Path) -> None:
    """Replace ``cache/pub`` with the checked tree: copy beside it, then swap."""
    incoming = cache / ".incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.copytree(root / LEXICON_PREFIX, incoming / LEXICON_PREFIX)
    shutil.rmtree(cache / "pub", ignore_errors=True)
    (incoming / "pub").rename(cache / "pub")
    incoming.rmdir()
