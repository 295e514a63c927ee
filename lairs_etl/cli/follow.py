"""``lairs-etl follow --relay URL --repo URL --lake URL``: apply the verified firehose as it happens.

Subscribes to a relay's or PDS's ``subscribeRepos`` (:func:`lairs_etl.sync.follow.follow`):
each ``#commit`` of a followed actor is proven from its frame (signature, ops,
inversion to ``prevData``) and must continue the state the repository holds; accepted
writes of Layers collections are committed in batches and written to the lake; an actor
whose commits cannot be verified or do not follow on is fetched again instead. Followed
actors: ``--actor`` (repeatable), else every actor the repository holds; with
``--discover``, also any actor that writes a Layers collection.

``--cursor FILE`` keeps the stream position across runs, with the actors still owed a
re-sync (written after each batch has landed, and every few seconds on a quiet stream,
so a stopped run resumes without loss or duplicates); without it the stream starts now.
``--for SECONDS`` bounds the run (default: until interrupted). stdout gets one JSON
summary: frames, commits and ops applied, refusals counted by reason, re-synced actors,
the cursor and the lag of the last commit. Exit 0 when every batch landed, 1 when one
failed (the summary lists it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from lairs_etl.atproto.syntax import is_did
from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.cli._network import Network, network_options
from lairs_etl.cli.lake import catalog_options, lake_storage, parse_catalog, target_lake_options
from lairs_etl.cli.repo import open_repository, repo_options
from lairs_etl.errors import ConfigError

__all__ = ["command", "read_cursor", "write_cursor"]


def read_cursor(path: Path) -> tuple[int | None, list[str]]:
    """The cursor a file holds and the actors a previous run still owed a re-sync.

    ``(None, [])`` when there is no file yet.

    Raises:
        ConfigError: the file is not ``{"cursor": N, "owed": [DID, ...]}``.
    """
    if not path.exists():
        return None, []
    try:
        saved = json.loads(path.read_text())
        cursor, owed = saved["cursor"], saved.get("owed", [])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f'{path} is not a cursor file ({{"cursor": N}})') from exc
    if cursor is not None and (type(cursor) is not int or cursor < 0):
        raise ConfigError(f"{path} holds cursor {cursor!r}, not a sequence number")
    if not isinstance(owed, list) or not all(isinstance(d, str) and is_did(d) for d in owed):
        raise ConfigError(f"{path}: 'owed' must be a list of DIDs")
    return cursor, owed


def write_cursor(path: Path, cursor: int, owed: Sequence[str] = ()) -> None:
    """Replace the cursor file atomically (a crash leaves the old or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump({"cursor": cursor, "owed": list(owed)}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    Path(handle.name).replace(path)


@click.command("follow")
@click.option(
    "--relay",
    "service",
    envvar="LAIRS_RELAY",
    required=True,
    metavar="URL",
    help="The relay or PDS whose subscribeRepos to follow (wss://, https://, or http:// for a local "
    "PDS) [env LAIRS_RELAY].",
)
@repo_options
@target_lake_options
@catalog_options
@click.option(
    "--cursor",
    "cursor_file",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Resume after the seq this file holds, and keep it there after each batch.",
)
@click.option(
    "--for",
    "seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop after this long (default: until interrupted).",
)
@click.option(
    "--actor",
    "actors",
    multiple=True,
    metavar="DID",
    help="Follow these actors (repeatable; default: every actor the repository holds).",
)
@click.option(
    "--discover",
    is_flag=True,
    help="Also follow any actor that writes a Layers collection (synced in full first).",
)
@click.option("--branch", default="main", show_default=True, help="Branch to commit to.")
@click.option(
    "--batch-seconds",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Longest a verified write waits for its commit.",
)
@network_options
def command(  # noqa: PLR0917  # click passes every option by keyword
    service: str,
    repo_url: str,
    storage_options: str | None,
    lake_url: str,
    lake_storage_options: str | None,
    catalog: str | None,
    catalog_namespace: str | None,
    cursor_file: Path | None,
    seconds: float | None,
    actors: tuple[str, ...],
    discover: bool,
    branch: str,
    batch_seconds: float,
    network: Network,
) -> None:
    """Follow a relay's verified firehose into the repository and the lake."""
    from lairs_etl.sync import LakeTarget, SyncOptions
    from lairs_etl.sync.follow import FollowOptions, follow

    repository = open_repository(repo_url, storage_options, create=True)
    lake_options = lake_storage(lake_storage_options, storage_options)
    lake = LakeTarget(lake_url, lake_options, parse_catalog(catalog, catalog_namespace))
    cursor, owed = read_cursor(cursor_file) if cursor_file is not None else (None, [])

    def checkpoint(seq: int, owing: Sequence[str]) -> None:
        if cursor_file is not None:
            write_cursor(cursor_file, seq, owing)

    with network.client() as client:
        report = follow(
            service,
            repository=repository,
            resolver=network.resolver(client),
            client=client,
            lake=lake,
            options=SyncOptions(branch=branch, author="lairs-etl follow"),
            follow_options=FollowOptions(flush_seconds=batch_seconds, discover=discover),
            actors=actors or None,
            cursor=cursor,
            seconds=seconds,
            allow_private_hosts=network.allow_private_hosts,
            checkpoint=checkpoint,
            owed=owed,
        )
    click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    if not report.ok:
        sys.exit(EXIT_FAILED)
