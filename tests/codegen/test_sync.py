"""``lairs-etl lexicons sync``: folders, archives and URLs, checked against the pin."""

from __future__ import annotations

import http.server
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl._codegen import LexiconPin, read_pin, summarize_tree, sync_lexicons, tree_sha256, write_pin
from lairs_etl.cli import main
from lairs_etl.errors import LexiconError, LexiconPinMismatch
from tests.fixtures.lexicons import SHARED_TREE, SYNTHETIC_DOCS, write_tree

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "source", SYNTHETIC_DOCS)


@pytest.fixture
def base(tmp_path: Path, source: Path) -> Path:
    """A ``lexicons/`` folder whose pin matches ``source``."""
    folder = tmp_path / "lexicons"
    write_pin(
        folder / "manifest.json",
        LexiconPin("example/layers", "lexicons/pub/layers", REVISION, tree_sha256(source)),
    )
    return folder


def _tarball(source: Path) -> bytes:
    """A GitHub-style archive: ``<repo>-<rev>/lexicons/pub/layers/…``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source / "pub", arcname=f"layers-{REVISION}/lexicons/pub")
    return buffer.getvalue()


def _zip(source: Path, *, extra: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path in sorted((source / "pub").rglob("*.json")):
            zipped.write(path, f"top/{path.relative_to(source).as_posix()}")
        if extra:
            zipped.writestr(extra, "x")
    return buffer.getvalue()


@pytest.fixture
def server(source: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the archive at ``/<rev>.tar.gz``."""
    body = _tarball(source)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != f"/{REVISION}.tar.gz":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _cached(base: Path) -> dict[str, bytes]:
    root = base / "cache"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _originals(source: Path) -> dict[str, bytes]:
    return {
        p.relative_to(source).as_posix(): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()
    }


def test_sync_from_a_folder_holding_pub_layers(source: Path, base: Path) -> None:
    summary = sync_lexicons(source, base=base)
    assert summary.sha256 == read_pin(base / "manifest.json").sha256
    assert _cached(base) == _originals(source)


def test_sync_from_the_pub_layers_folder_itself(source: Path, base: Path) -> None:
    sync_lexicons(source / "pub" / "layers", base=base)
    assert _cached(base) == _originals(source)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_sync_from_an_archive_file(tmp_path: Path, source: Path, base: Path, kind: str) -> None:
    archive = tmp_path / f"lexicons.{kind}"
    archive.write_bytes(_tarball(source) if kind == "tar.gz" else _zip(source))
    sync_lexicons(archive, base=base)
    assert _cached(base) == _originals(source)


def test_sync_downloads_the_pinned_archive_from_a_url(server: str, source: Path, base: Path) -> None:
    sync_lexicons(f"{server}/{REVISION}.tar.gz", base=base)
    assert _cached(base) == _originals(source)


def test_sync_without_source_uses_the_pinned_revision_archive(server: str, source: Path, base: Path) -> None:
    assert (
        read_pin(base / "manifest.json").archive_url
        == f"https://github.com/example/layers/archive/{REVISION}.tar.gz"
    )
    sync_lexicons(base=base, archive_url=f"{server}/{REVISION}.tar.gz")
    assert _cached(base) == _originals(source)


def test_cli_sync_without_from_downloads(server: str, source: Path, base: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["lexicons", "sync"],
        env={
            "LAIRS_ETL_LEXICONS_DIR": str(base),
            "LAIRS_ETL_LEXICONS_ARCHIVE_URL": f"{server}/{REVISION}.tar.gz",
        },
    )
    assert result.exit_code == 0, result.output
    assert tree_sha256(source) in result.output
    assert _cached(base) == _originals(source)


def test_http_error_is_a_lexicon_error(server: str, base: Path) -> None:
    with pytest.raises(LexiconError, match="cannot download"):
        sync_lexicons(f"{server}/missing.tar.gz", base=base)


def test_mismatch_raises_with_both_hashes_and_keeps_the_cache(
    tmp_path: Path, source: Path, base: Path
) -> None:
    sync_lexicons(source, base=base)
    before = _cached(base)
    changed = write_tree(
        tmp_path / "changed",
        {
            **SYNTHETIC_DOCS,
            "pub.layers.testkit.more": {"lexicon": 1, "id": "pub.layers.testkit.more", "defs": {}},
        },
    )
    with pytest.raises(LexiconPinMismatch) as caught:
        sync_lexicons(changed, base=base)
    assert caught.value.expected == tree_sha256(source)
    assert caught.value.actual == tree_sha256(changed)
    assert _cached(base) == before


def test_cli_mismatch_exits_non_zero_naming_both_hashes(tmp_path: Path, source: Path, base: Path) -> None:
    changed = write_tree(
        tmp_path / "changed", {"pub.layers.testkit.defs": SYNTHETIC_DOCS["pub.layers.testkit.defs"]}
    )
    result = CliRunner().invoke(
        main, ["lexicons", "sync", "--from", str(changed)], env={"LAIRS_ETL_LEXICONS_DIR": str(base)}
    )
    assert result.exit_code != 0
    assert f"expected sha256:{tree_sha256(source)}" in result.output
    assert f"actual   sha256:{tree_sha256(changed)}" in result.output


def test_update_rewrites_the_pin(tmp_path: Path, base: Path) -> None:
    changed = write_tree(
        tmp_path / "changed", {"pub.layers.testkit.defs": SYNTHETIC_DOCS["pub.layers.testkit.defs"]}
    )
    summary = sync_lexicons(changed, base=base, update=True)
    pin = read_pin(base / "manifest.json")
    assert (pin.sha256, pin.revision) == (tree_sha256(changed), REVISION)
    assert pin.counts == summary.counts() == summarize_tree(changed).counts()
    assert _cached(base) == _originals(changed)
    sync_lexicons(changed, base=base)  # now it is the pin


def test_archive_with_an_escaping_path_is_refused(tmp_path: Path, source: Path, base: Path) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip(source, extra="../../escape.json"))
    with pytest.raises(LexiconError, match="unsafe path"):
        sync_lexicons(archive, base=base)
    assert not (tmp_path / "escape.json").exists()


def test_source_without_lexicons_is_refused(tmp_path: Path, base: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LexiconError, match="neither"):
        sync_lexicons(tmp_path / "empty", base=base)
    archive = tmp_path / "nothing.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.txt", "no lexicons here")
    with pytest.raises(LexiconError, match="no pub/layers"):
        sync_lexicons(archive, base=base)


def test_cli_sync_of_the_shared_tree(tmp_path: Path) -> None:
    if not (SHARED_TREE / "pub" / "layers").is_dir():
        pytest.skip(f"Layers lexicon tree not available at {SHARED_TREE}")
    folder = tmp_path / "lexicons"
    folder.mkdir()
    repo_manifest = Path(__file__).resolve().parents[2] / "lexicons" / "manifest.json"
    (folder / "manifest.json").write_text(repo_manifest.read_text())
    result = CliRunner().invoke(
        main, ["lexicons", "sync", "--from", str(SHARED_TREE)], env={"LAIRS_ETL_LEXICONS_DIR": str(folder)}
    )
    assert result.exit_code == 0, result.output
    assert "26 record types" in result.output
    assert json.loads(repo_manifest.read_text())["tree"]["sha256"] in result.output
