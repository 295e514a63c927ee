"""``lairs-etl fetch ACTOR``: print an actor's verified records as JSON Lines.

stdout gets one ``{"uri", "cid", "value"}`` object per record (and, for an incremental
fetch, ``{"uri", "deleted": true}`` per record gone since ``--since``); stderr gets a
one-line summary. A failed check exits with status 3 and one line naming the error
type, the actor and the object; other failures exit as :mod:`lairs_etl.cli._exit` says.

``--store DIR`` keeps the blocks (``DIR/blocks.sqlite``) and the data root of every
fetched rev (``DIR/state.json``), which is what ``--since REV`` needs; a state file
that does not parse is a ``ConfigError`` naming it (nothing is overwritten).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lairs_etl.cli._network import FETCH_MODES, Network, network_options
from lairs_etl.errors import ConfigError, LairsError

if TYPE_CHECKING:
    from lairs_etl.atproto.fetch import FetchResult

__all__ = ["command"]


@click.command("fetch")
@click.argument("actor")
@click.option(
    "--collection",
    "collections",
    multiple=True,
    metavar="NSID",
    help="Collection NSID or namespace prefix (pub.layers.); repeatable. Default: every Layers record type.",
)
@click.option(
    "--mode",
    type=click.Choice(FETCH_MODES),
    default="auto",
    show_default=True,
    help="How to fetch; auto picks per actor.",
)
@click.option("--since", metavar="REV", help="Fetch only changes after this rev (needs --store).")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory keeping blocks and revs between fetches.",
)
@network_options
def command(  # noqa: PLR0917  # click passes every option by keyword
    actor: str,
    collections: tuple[str, ...],
    mode: str,
    since: str | None,
    store: Path | None,
    network: Network,
) -> None:
    """Fetch ACTOR's (handle or DID) records, verified, as JSON Lines on stdout."""
    result = _run_fetch(
        actor, collections=collections or None, mode=mode, since=since, store=store, network=network
    )
    _write_lines(result)
    summary = result.summary()
    shown = " ".join(
        f"{key}={summary[key]}" for key in ("did", "mode", "rev", "records", "deleted", "bytes", "seconds")
    )
    click.echo(f"fetched {shown} authenticated={str(result.authenticated).lower()}", err=True)


_LINES_PER_WRITE = 1000


def _write_lines(result: FetchResult) -> None:
    """Print the records as JSON Lines, each decoded and encoded as it goes.

    msgspec's C encoder, a thousand lines per write: the standard library's encoder took
    longer than the fetch itself (2.2 of 5.6 s for 100,000 records), and only the bytes
    of the records are held, never every decoded value at once.
    """
    import msgspec  # imported here, like the fetch itself: --help stays fast

    encode = msgspec.json.Encoder().encode
    out = sys.stdout.buffer
    sys.stdout.flush()
    lines: list[bytes] = []
    for record in result.records:
        lines.append(encode({"uri": str(record.uri), "cid": record.cid.encode(), "value": record.value}))
        if len(lines) >= _LINES_PER_WRITE:
            out.write(b"\n".join(lines) + b"\n")
            lines = []
    lines.extend(encode({"uri": str(uri), "deleted": True}) for uri in result.deleted)
    if lines:
        out.write(b"\n".join(lines) + b"\n")
    out.flush()


def _run_fetch(
    actor: str,
    *,
    collections: tuple[str, ...] | None,
    mode: str,
    since: str | None,
    store: Path | None,
    network: Network,
) -> FetchResult:
    # Imported here so that ``lairs-etl --help`` does not pay for httpx and cryptography.
    from lairs_etl.atproto.blockstore import DiskBlockStore
    from lairs_etl.atproto.cid import parse_cid
    from lairs_etl.atproto.fetch import fetch_actor

    if since is not None and store is None:
        raise ConfigError("--since needs --store (the blocks and revs of the earlier fetch)")
    state_path = store / "state.json" if store is not None else None
    state = _read_state(state_path)
    with network.client() as client:
        resolver = network.resolver(client)
        since_data = None
        if since is not None:
            did = str(resolver.resolve(actor).did)
            known = state.get(did, {}).get(since)
            if known is None:
                raise ConfigError(f"--store holds no fetch of {did} at rev {since}")
            try:
                since_data = parse_cid(known)
            except LairsError as exc:
                raise _corrupt(state_path, f"the data root of {since} is not a CID: {exc}") from exc
        blocks = None
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
            blocks = DiskBlockStore(store / "blocks.sqlite")
        try:
            result = fetch_actor(
                actor,
                collections=collections,
                mode=mode,  # type: ignore[arg-type]  # click.Choice
                since=since,
                since_data=since_data,
                client=client,
                resolver=resolver,
                blockstore=blocks,
            )
        finally:
            if blocks is not None:
                blocks.close()
    resumable = result.mode in {"car", "tree"}  # the modes that fetch incrementally
    if state_path is not None and result.rev is not None and result.data is not None and resumable:
        state.setdefault(str(result.did), {})[result.rev] = result.data.encode()
        partial = state_path.with_name(f".{state_path.name}.partial")  # replaced whole: never half-written
        partial.write_text(json.dumps(state, indent=1, sort_keys=True))
        partial.replace(state_path)
    return result


def _layers_record_types() -> tuple[str, ...] | None:
    """The registry's record NSIDs; None (the ``pub.layers.`` namespace) before generation."""
    try:
        from lairs_etl.records.registry import record_types

        return record_types() or None
    except (ImportError, AttributeError, LairsError):
        return None


def _read_state(path: Path | None) -> dict[str, dict[str, str]]:
    """``{did: {rev: data root}}`` of the fetches kept in a ``--store`` directory.

    Raises:
        ConfigError: the file cannot be read or is not that shape (it names the file).
    """
    from lairs_etl.atproto import jsoncodec

    if path is None or not path.exists():
        return {}
    try:
        loaded = jsoncodec.decode(path.read_bytes(), max_depth=4)
    except (OSError, LairsError) as exc:
        raise _corrupt(path, str(exc)) from exc
    shaped = isinstance(loaded, dict) and all(
        isinstance(revs, dict) and all(isinstance(v, str) for v in revs.values()) for revs in loaded.values()
    )
    if not shaped:
        raise _corrupt(path, "expected {did: {rev: data root}}")
    return loaded  # type: ignore[return-value]  # shape checked above


def _corrupt(path: Path | None, why: str) -> ConfigError:
    return ConfigError(
        f"--store state file {path} is unusable ({why}); move it aside to start that store afresh"
    )
