"""``lairs-etl repo log|show|diff|tag|fsck|gc --repo URL``: inspect and maintain a repository.

Every subcommand prints human-readable lines, or one JSON document with ``--json``.
Exit status as :mod:`lairs_etl.cli._exit` maps it: 0 on success, 4 when ``fsck`` finds
damage, else the error's status (one ``error: Type: message`` line on stderr). Stray
files under ``refs/`` (``.DS_Store``, editor backups) are reported and skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from lairs_etl.cli._exit import EXIT_DAMAGED
from lairs_etl.errors import ConfigError

if TYPE_CHECKING:
    from lairs_etl.repo.objects import ActorState
    from lairs_etl.repo.repository import Repository

__all__ = ["command", "open_repository", "parse_storage_options", "repo_options"]

_F = TypeVar("_F", bound=Callable[..., object])


def repo_options(func: _F) -> _F:
    """The options every repository command shares: ``--repo`` and ``--storage-options``."""
    func = click.option(
        "--storage-options",
        envvar="LAIRS_STORAGE_OPTIONS",
        default=None,
        metavar="JSON",
        help="fsspec storage options as a JSON object (e.g. an S3 endpoint) [env LAIRS_STORAGE_OPTIONS].",
    )(func)
    return click.option(
        "--repo",
        "repo_url",
        envvar="LAIRS_REPO",
        required=True,
        metavar="URL",
        help="Repository location: a path, file://, memory:// or s3:// URL [env LAIRS_REPO].",
    )(func)


def open_repository(url: str, storage_options: str | None, *, create: bool = False) -> Repository:
    """Open (or, with ``create``, init) the repository a command names.

    Raises:
        ConfigError: ``storage_options`` is not a JSON object.
        NotFoundError: no repository there (without ``create``).
    """
    from lairs_etl.repo.repository import Repository

    options = parse_storage_options(storage_options)
    return Repository.init(url, options) if create else Repository.open(url, options)


def parse_storage_options(text: str | None) -> dict[str, object]:
    """Fsspec options from a JSON object text (``--storage-options``).

    Raises:
        ConfigError: not a JSON object.
    """
    from lairs_etl.atproto import jsoncodec
    from lairs_etl.errors import CodecError

    if not text:
        return {}
    try:
        loaded = jsoncodec.decode(text, max_depth=16)
    except CodecError as exc:
        raise ConfigError(f"storage options are not JSON: {exc.message}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError("storage options must be a JSON object")
    return dict(loaded)


def _emit(as_json: bool, data: object, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        for line in lines:
            click.echo(line)


@click.group("repo")
def command() -> None:
    """Inspect and maintain a corpus repository."""


_json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@command.command("log")
@click.argument("rev", required=False)
@click.option("--limit", type=int, default=None, help="At most this many commits.")
@repo_options
@_json_flag
def log_command(
    rev: str | None, limit: int | None, repo_url: str, storage_options: str | None, as_json: bool
) -> None:
    """Commits from REV (default: the main branch) back to the first."""
    entries = list(open_repository(repo_url, storage_options).log(rev, limit=limit))
    data = [e.to_json() for e in entries]
    _emit(as_json, data, [f"{d['commit']} {d['time']} {d['author']}: {d['message']}" for d in data])


@command.command("show")
@click.argument("rev", required=False)
@repo_options
@_json_flag
def show_command(rev: str | None, repo_url: str, storage_options: str | None, as_json: bool) -> None:
    """A commit and the state of every actor it pins."""
    repo = open_repository(repo_url, storage_options)
    entry = repo.show(rev)
    actors = repo.actors(entry.cid)
    states = {did: _state_json(state) for did, state in actors.items()}
    data = {**entry.to_json(), "actors": states}
    lines = [f"commit {data['commit']}", f"author {entry.commit.author}", f"time {entry.commit.time}", ""]
    lines += [f"    {entry.commit.message}", ""]
    lines += [f"{did} root={s['root']} rev={s.get('pdsRev')}" for did, s in states.items()]
    _emit(as_json, data, lines)


def _state_json(state: ActorState) -> dict[str, object]:
    from lairs_etl.atproto.cid import Cid

    return {k: v.encode() if isinstance(v, Cid) else v for k, v in state.to_ipld().items()}


@command.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--summary", is_flag=True, help="Counts per actor and collection only.")
@repo_options
@_json_flag
def diff_command(  # noqa: PLR0917  # click passes every option by keyword
    a: str, b: str, summary: bool, repo_url: str, storage_options: str | None, as_json: bool
) -> None:
    """Records added, removed and changed from revision A to revision B."""
    from lairs_etl.repo.changes import summarize

    changes = list(open_repository(repo_url, storage_options).diff(a, b))
    counts = {
        did: {c: {"added": n.added, "removed": n.removed, "changed": n.changed} for c, n in cols.items()}
        for did, cols in summarize(changes).items()
    }
    if summary:
        lines = [
            f"{did} {c} +{n['added']} -{n['removed']} ~{n['changed']}"
            for did, cols in counts.items()
            for c, n in cols.items()
        ]
        _emit(as_json, counts, lines)
        return
    marks = {"added": "+", "removed": "-", "changed": "~"}
    data = {"changes": [c.to_json() for c in changes], "summary": counts}
    _emit(as_json, data, [f"{marks[c.kind]} {c.uri}" for c in changes])


@command.command("tag")
@click.argument("name")
@click.argument("rev", required=False)
@repo_options
@_json_flag
def tag_command(
    name: str, rev: str | None, repo_url: str, storage_options: str | None, as_json: bool
) -> None:
    """Name the commit at REV (default: the main branch's head) with the tag NAME."""
    cid = open_repository(repo_url, storage_options).tag(name, rev)
    _emit(as_json, {"tag": name, "commit": cid.encode()}, [f"{name} {cid.encode()}"])


@command.command("fsck")
@repo_options
@_json_flag
def fsck_command(repo_url: str, storage_options: str | None, as_json: bool) -> None:
    """Re-hash every object the refs depend on and walk every reachable block."""
    report = open_repository(repo_url, storage_options).fsck()
    data = {
        "ok": report.ok,
        "packsets": report.packsets,
        "segments": report.segments,
        "packs": report.packs,
        "blocks_hashed": report.blocks_hashed,
        "blobs_hashed": report.blobs,
        "reachable": report.reachable,
        "problems": report.problems,
        "strays": report.strays,
    }
    head = f"{'ok' if report.ok else 'DAMAGED'}: {report.packs} packs, {report.reachable} reachable blocks"
    _emit(as_json, data, [head, *report.problems, *_stray_lines(report.strays)])
    if not report.ok:
        sys.exit(EXIT_DAMAGED)


@command.command("gc")
@click.option(
    "--grace-seconds", type=float, default=None, help="Keep unreferenced objects younger than this."
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted.")
@repo_options
@_json_flag
def gc_command(
    grace_seconds: float | None, dry_run: bool, repo_url: str, storage_options: str | None, as_json: bool
) -> None:
    """Delete packs, index segments, packsets and blobs that no branch or tag reaches."""
    from lairs_etl.repo.gc import DEFAULT_GRACE_SECONDS

    repo = open_repository(repo_url, storage_options)
    report = repo.gc(
        grace_seconds=DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds, dry_run=dry_run
    )
    data = {
        "deleted": report.deleted,
        "kept_young": len(report.kept_young),
        "bytes_freed": report.bytes_freed,
        "dry_run": dry_run,
        "strays": report.strays,
    }
    _emit(
        as_json,
        data,
        [f"{'would delete' if dry_run else 'deleted'} {k}" for k in report.deleted]
        + [f"{len(report.deleted)} objects, {report.bytes_freed} bytes", *_stray_lines(report.strays)],
    )


def _stray_lines(keys: list[str]) -> list[str]:
    return [f"skipped {key}: not a ref (a stray file; remove it if you do not need it)" for key in keys]
