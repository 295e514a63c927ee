"""``lairs-etl sync ACTOR... --repo URL --lake URL``: fetch, verify, validate, commit, write the lake.

One pass per actor (:func:`lairs_etl.sync.sync`): stdout gets one JSON summary (per
actor: status, records, valid, invalid, commit, lake files), stderr a progress bar when
it is a terminal, else one line per actor when there are several. The repository is
created if it does not exist. ``--collection`` syncs only those collections of each
actor (what is known of the others is kept). Exit status 0 when every actor landed or
was unchanged, 1 when one failed (the others are still committed and listed), else as
:mod:`lairs_etl.cli._exit` maps the error that stopped the run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lairs_etl.cli._exit import EXIT_FAILED
from lairs_etl.cli._network import FETCH_MODES, Network, network_options
from lairs_etl.cli.lake import catalog_options, lake_storage, parse_catalog, target_lake_options
from lairs_etl.cli.repo import open_repository, repo_options

if TYPE_CHECKING:
    from lairs_etl.sync import ActorSync, CorpusSync, SyncReport
    from lairs_etl.views import CatalogChoice

__all__ = ["command", "run_sync", "sync_options"]

_F = TypeVar("_F", bound=Callable[..., object])


def sync_options(func: _F) -> _F:
    """The options ``sync`` and ``pull`` share (targets, branch, tag, workers, …)."""
    for option in reversed(
        (
            click.argument("actors", nargs=-1),
            repo_options,
            click.option(
                "--collection",
                "collections",
                multiple=True,
                metavar="NSID",
                help="Sync only these collections of each actor (repeatable); the others keep their state. "
                "Default: every Layers record type.",
            ),
            click.option("--tag", default=None, metavar="NAME", help="Tag the resulting head with NAME."),
            click.option("--branch", default="main", show_default=True, help="Branch to commit to."),
            click.option(
                "--full", is_flag=True, help="Fetch everything even when nothing or little changed."
            ),
            click.option(
                "--workers",
                type=click.IntRange(1),
                default=4,
                show_default=True,
                help="Actors fetched at once.",
            ),
            click.option("--author", default="lairs-etl", show_default=True, help="Commit author."),
            click.option(
                "--mode",
                "fetch_mode",
                type=click.Choice(FETCH_MODES),
                default="auto",
                show_default=True,
                help="How to fetch (as for fetch); incremental syncs need car, tree or auto.",
            ),
            network_options,
        )
    ):
        func = option(func)
    return func


@click.command("sync")
@sync_options
@target_lake_options
@catalog_options
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    metavar="AT_URI",
    help="Sync every actor this corpus record's reference closure reaches (repeatable): its owner, "
    "the actors of its memberships' expressions and of whatever those reference. Corpus actors are "
    "synced whole (--collection applies to the ACTORS named).",
)
@click.option(
    "--max-depth",
    type=click.IntRange(0),
    default=4,
    show_default=True,
    help="Rounds of actor hops a corpus closure follows from the corpus's owner (with --corpus).",
)
@click.option(
    "--appview",
    "appview_url",
    envvar="LAIRS_APPVIEW",
    default=None,
    metavar="URL",
    help="A Layers appview asked where records naming a --corpus are (untrusted: every record still "
    "comes from its owner's PDS, verified) [env LAIRS_APPVIEW].",
)
@click.option(
    "--media",
    "media",
    is_flag=True,
    help="Then fetch the blobs the synced actors' records reference (media, mediaBlob) from each "
    "owner's PDS, verify them against their CIDs, keep them in the repository's blobs/ and list "
    "them in the lake's media table.",
)
@click.option(
    "--media-max-bytes",
    type=click.IntRange(1),
    default=100 * 1024 * 1024,
    show_default=True,
    help="Largest blob fetched (with --media).",
)
@click.option(
    "--media-mime",
    multiple=True,
    metavar="PATTERN",
    help="MIME types fetched (repeatable; default audio/*, video/*, image/*, application/pdf).",
)
@click.option(
    "--warehouse",
    "warehouse",
    default=None,
    metavar="FILE",
    help="Then (re)build the DuckDB warehouse FILE over the lake (as materialize --warehouse).",
)
@click.option(
    "--max-actors",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Actors a corpus closure reaches at most (with --corpus).",
)
def command(  # noqa: PLR0917  # click passes every option by keyword
    lake_url: str,
    lake_storage_options: str | None,
    catalog: str | None,
    catalog_namespace: str | None,
    corpora: tuple[str, ...],
    max_depth: int,
    max_actors: int,
    appview_url: str | None,
    media: bool,
    media_max_bytes: int,
    media_mime: tuple[str, ...],
    warehouse: str | None,
    **kwargs: Any,
) -> None:
    """Sync ACTORS (handles or DIDs) and corpora into the repository and the lake, one pass each."""
    lake_options = lake_storage(lake_storage_options, kwargs["storage_options"])
    lake = (lake_url, lake_options, parse_catalog(catalog, catalog_namespace))
    report = run_sync(
        **kwargs,
        lake=lake,
        corpora=corpora,
        closure=(max_depth, max_actors),
        appview_url=appview_url,
    )
    summary = report.to_json()
    media_ok = True
    if media:
        summary["media"], media_ok = _fetch_media(kwargs, report, lake, (media_max_bytes, media_mime))
    built = True
    if warehouse is not None:
        from lairs_etl.errors import LairsError, isolated
        from lairs_etl.views import build_warehouse

        # The sync has landed whatever the warehouse does: its summary is printed either way.
        done = isolated(lambda: build_warehouse(lake_url, warehouse, lake_options))
        built = not isinstance(done, LairsError)
        summary["warehouse"] = (
            {"error": f"{done.type_name}: {done}"} if isinstance(done, LairsError) else done.to_json()
        )
    click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
    if not report.ok or not built or not media_ok:
        sys.exit(EXIT_FAILED)


def _fetch_media(
    kwargs: dict[str, Any],
    report: SyncReport | CorpusSync,
    lake: tuple[str, dict[str, object], CatalogChoice | None],
    policy: tuple[int, tuple[str, ...]],
) -> tuple[dict[str, object], bool]:
    """The media step of ``sync --media``: its summary, and whether every blob landed.

    Whatever fails here fails the command (exit 1) after the sync's summary is printed:
    the sync itself has landed.
    """
    from lairs_etl.errors import LairsError, isolated
    from lairs_etl.sync import CorpusSync
    from lairs_etl.sync.media import MediaPolicy, MediaReport, fetch_media
    from lairs_etl.views.media import write_media

    engine = report.report if isinstance(report, CorpusSync) else report
    dids = [a.did for a in engine.actors if a.did is not None and a.ok]
    chosen = MediaPolicy(max_bytes=policy[0], **({"mime": policy[1]} if policy[1] else {}))
    network: Network = kwargs["network"]

    def fetch() -> MediaReport:
        repo = open_repository(kwargs["repo_url"], kwargs["storage_options"])
        with network.client() as client:
            resolver = network.resolver(client)
            return fetch_media(
                repo, dids, client=client, resolver=resolver, policy=chosen, branch=kwargs["branch"]
            )

    fetched = isolated(fetch)
    if isinstance(fetched, LairsError):
        return {"error": f"{fetched.type_name}: {fetched}"}, False
    summary = fetched.to_json()
    rows = fetched.rows_by_actor()
    written = isolated(
        lambda: write_media(lake[0], rows, engine.commit or "", storage_options=lake[1], catalog=lake[2])
    )
    summary["table_rows"] = f"{written.type_name}: {written}" if isinstance(written, LairsError) else written
    ok = not isinstance(written, LairsError) and not fetched.count("refused") and not fetched.count("failed")
    return summary, ok


def run_sync(  # noqa: PLR0917  # click passes every option by keyword
    actors: tuple[str, ...],
    repo_url: str,
    storage_options: str | None,
    collections: tuple[str, ...],
    tag: str | None,
    branch: str,
    full: bool,
    workers: int,
    author: str,
    fetch_mode: str,
    network: Network,
    lake: tuple[str, dict[str, object], CatalogChoice | None] | None,
    corpora: tuple[str, ...] = (),
    closure: tuple[int, int] = (4, 1000),
    appview_url: str | None = None,
) -> SyncReport | CorpusSync:
    """Run the engine for the CLI: targets from arguments, progress on stderr.

    Raises:
        click.UsageError: neither actors nor a corpus to sync.
    """
    # Imported here so that ``lairs-etl --help`` does not pay for httpx and cryptography.
    from lairs_etl.sync import ClosureLimits, LakeTarget, Stage, SyncOptions, Target, sync, sync_corpora

    if not actors and not corpora:
        raise click.UsageError("give the ACTORS to sync" + (" or a --corpus" if lake is not None else ""))
    repo = open_repository(repo_url, storage_options, create=True)
    targets = [Target(actor, tuple(collections) or None) for actor in actors]
    stages = frozenset(Stage) if lake is not None else frozenset(Stage) - {Stage.PARQUET}
    options = SyncOptions(
        branch=branch,
        author=author,
        incremental=not full,
        workers=workers,
        tag=tag,
        stages=stages,
        fetch_mode=fetch_mode,  # type: ignore[arg-type]  # click.Choice
    )
    if corpora:
        limits = ClosureLimits(max_depth=closure[0], max_actors=closure[1])
        with network.client() as client, _Progress(None) as progress:
            return sync_corpora(
                corpora,
                client=client,
                resolver=network.resolver(client),
                repository=repo,
                lake=None if lake is None else LakeTarget(*lake),
                options=options,
                limits=limits,
                extra=targets,
                appview_url=appview_url,
                progress=progress,
            )
    with network.client() as client, _Progress(len(targets)) as progress:
        return sync(
            targets,
            client=client,
            resolver=network.resolver(client),
            repository=repo,
            lake=None if lake is None else LakeTarget(*lake),
            options=options,
            progress=progress,
        )


class _Progress:
    """A bar on a terminal; one line per actor otherwise (when there are several).

    ``total`` None: not known ahead (a corpus closure grows as it goes), one line per actor.
    """

    def __init__(self, total: int | None) -> None:
        self._total = total
        self._done = 0
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty() and self._total is not None:
            self._bar = click.progressbar(length=self._total, label="syncing", file=sys.stderr)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, outcome: ActorSync) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self._total is None or self._total > 1:
            detail = outcome.error_type or f"{outcome.records} records"
            of = "" if self._total is None else f"/{self._total}"
            click.echo(f"[{self._done}{of}] {outcome.actor}: {outcome.status} ({detail})", err=True)
