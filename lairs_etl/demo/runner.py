"""``lairs-etl demo``: a local PDS, a Layers corpus tracked by its URI, refreshed via Dagster.

The accounts get synthetic records of every type (some invalid on purpose, for the
diagnostics) and a small real corpus across them (:mod:`.corpus`). The settings name
only the corpus's URI: discovery finds its owner, each refresh commits records that
reach further accounts, and the demo repeats discovery and refresh until the closure
stops growing, then prints labels with the text they cover, per split.

Everything lands in one folder (default ``.lairs/demo``): ``lairs.yaml`` (the settings
the code location reads), ``dagster_home/``, ``repo/`` (the corpus repository) and
``lake/`` (the Parquet views: typed records, exploded annotations/tokens/judgments/
expressions, invalid records with their diagnostics, and ``warehouse.duckdb`` over
them). The PDS and PLC run only while the demo does (with ``serve``, until the Dagster
UI is stopped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lairs_etl.demo.corpus import DemoLayersCorpus, labels_by_split_sql, seed_layers_corpus
from lairs_etl.demo.seed import SeededCorpus, seed_corpus
from lairs_etl.errors import LairsError
from lairs_etl.localpds import LocalPds
from lairs_etl.views.shapes import EXPLODED_VIEWS, EXPRESSIONS_DATASET

__all__ = ["DemoReport", "run_demo", "write_settings"]

_TRY_QUERY = "select name, rows from lairs_tables where rows > 0 order by rows desc"
_EXPLODED = (*sorted({view.dataset for view in EXPLODED_VIEWS}), EXPRESSIONS_DATASET)
#: Discovery+refresh rounds at most: the demo corpus reaches its last account in three.
_MAX_ROUNDS = 6


@dataclass(frozen=True, slots=True)
class DemoReport:
    """Where the demo's outputs are and what they hold."""

    workdir: Path
    settings: Path
    dagster_home: Path
    repository: Path
    lake: Path
    commit: str | None
    actors: int
    records: int
    invalid: int
    parquet_files: int
    view_files: int
    diagnostics_files: int
    run_ok: bool
    checks: dict[str, str]
    corpus: str = ""
    refreshes: int = 1
    labels: str = ""

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        warehouse = self.lake / "warehouse.duckdb"
        checks = ", ".join(f"{name} {verdict}" for name, verdict in sorted(self.checks.items()))
        return [
            f"refresh run: {'succeeded' if self.run_ok else 'FAILED'}; checks: {checks}",
            f"seeded {self.actors} actors, {self.records} records ({self.invalid} invalid on purpose)",
            f"corpus:      {self.corpus}",
            f"             (tracked by this URI alone; {self.refreshes} rounds of discovery and refresh)",
            f"repository:  {self.repository}  (head {self.commit})",
            f"parquet:     {self.lake / 'records'}  ({self.parquet_files} files, one table per record type)",
            f"views:       {self.lake}/{{{','.join(_EXPLODED)}}}  ({self.view_files} files)",
            f"diagnostics: {self.lake / 'invalid'}  ({self.diagnostics_files} files of invalid records)",
            f"warehouse:   {warehouse}",
            f"query it:    lairs-etl sql --db {warehouse} {_TRY_QUERY!r}",
            f"settings:    {self.settings}",
            f"dagster:     DAGSTER_HOME={self.dagster_home}",
            "labels with the text they cover, per split:",
            f"  lairs-etl sql --db {warehouse} {labels_by_split_sql(self.corpus)!r}",
            *self.labels.rstrip("\n").splitlines(),
        ]


def write_settings(
    workdir: Path,
    pds: LocalPds,
    *,
    snapshot_tag_prefix: str | None = "demo-",
    corpora: tuple[str, ...] = (),
) -> Path:
    """The demo's ``lairs.yaml``: local PDS/PLC, private hosts allowed, paths in ``workdir``.

    With ``corpora``, actors come from those corpora alone; else from listing the PDS.
    """
    import json

    settings = {
        "atproto": {"plc_url": pds.plc_url, "handle_service": pds.pds_url, "allow_private_hosts": True},
        "repository": {"url": "repo"},
        "lake": {"url": "lake"},
        "corpora": list(corpora),
        "discovery": {"pds_hosts": [] if corpora else [pds.pds_url]},
        "refresh": {"snapshot_tag_prefix": snapshot_tag_prefix},
    }
    path = workdir / "lairs.yaml"
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
    return path


def run_demo(
    workdir: Path,
    *,
    actors: int = 3,
    records_per_type: int = 2,
    invalid_per_actor: int = 2,
    serve: bool = False,
    echo: Callable[[str], None] = print,
) -> DemoReport:
    """Run the whole demo (see the module docstring); ``serve`` then runs ``dagster dev``.

    Raises:
        LocalPdsError: the local PDS did not start.
        LairsError: seeding or the refresh failed.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    home = workdir / "dagster_home"
    home.mkdir(parents=True)
    from lairs_etl.dagster.instance import instance_yaml

    dagster_yaml = f"# written by lairs-etl demo\n{instance_yaml(str(home))}"
    (home / "dagster.yaml").write_text(dagster_yaml, encoding="utf-8")
    echo("starting the local PDS and PLC directory ...")
    with LocalPds() as pds:
        echo(f"PDS at {pds.pds_url}, PLC at {pds.plc_url}; seeding {actors} actors ...")
        corpus = seed_corpus(
            pds, actors=actors, records_per_type=records_per_type, invalid_per_actor=invalid_per_actor
        )
        layers = seed_layers_corpus([a.account for a in corpus.actors if a.account is not None])
        echo(f"seeded the corpus {layers.uri} over {len(layers.dids)} accounts ({layers.records} records)")
        settings = write_settings(workdir, pds, corpora=(layers.uri,))
        report = _refresh(workdir, settings, home, corpus, layers, echo)
        for line in report.lines():
            echo(line)
        if serve:
            _serve(settings, home, echo)
    return report


def _refresh(  # noqa: PLR0917  # private: the demo's state, passed through
    workdir: Path,
    settings: Path,
    home: Path,
    corpus: SeededCorpus,
    layers: DemoLayersCorpus,
    echo: Callable[[str], None],
) -> DemoReport:
    from dagster import DagsterInstance

    from lairs_etl.dagster import definitions_from_file
    from lairs_etl.dagster.inprocess import execute_run_request, schedule_run_requests, tick_sensor

    defs = definitions_from_file(settings)
    cursor: str | None = None
    rounds = 0
    with DagsterInstance.from_config(str(home)) as instance:
        # Each refresh commits records that reach further accounts: discover again until none is new.
        for _ in range(_MAX_ROUNDS):
            tick = tick_sensor(defs, "lairs_discovery", instance, cursor)
            cursor = tick.cursor
            if not tick.added:
                break
            rounds += 1
            echo(f"discovery sensor added {len(tick.added)} actor partitions from the corpus's references")
            requests = schedule_run_requests(defs, "lairs_refresh", instance)
            if not requests:
                raise LairsError("the refresh schedule requested no run")
            echo("running the refresh (the schedule's run) through Dagster ...")
            result = execute_run_request(defs, requests[0], instance, log_level="WARNING")
            if not result.success:
                break
        if rounds == 0:
            raise LairsError(f"discovery found no actor of the corpus {layers.uri}")
        checks = {
            e.check_name: "passed" if e.passed else f"failed ({e.severity.value.lower()})"
            for e in result.get_asset_check_evaluations()
        }
    from lairs_etl.repo.repository import Repository

    repo = Repository.open(str(workdir / "repo"))
    head = repo.head()
    lake = workdir / "lake"
    return DemoReport(
        workdir=workdir,
        settings=settings,
        dagster_home=home,
        repository=workdir / "repo",
        lake=lake,
        commit=None if head is None else head.encode(),
        actors=len(corpus.actors),
        records=corpus.records + layers.records,
        invalid=corpus.invalid,
        parquet_files=_files(lake, ("records",)),
        view_files=_files(lake, _EXPLODED),
        diagnostics_files=_files(lake, ("invalid",)),
        run_ok=result.success,
        checks=checks,
        corpus=layers.uri,
        refreshes=rounds,
        labels=_labels(lake, layers.uri) if result.success else "",
    )


def _labels(lake: Path, corpus: str) -> str:
    """The closing query's result as a text table."""
    from lairs_etl.views import render, run_query

    return render(run_query(str(lake / "warehouse.duckdb"), labels_by_split_sql(corpus)), "table").decode()


def _files(lake: Path, datasets: tuple[str, ...]) -> int:
    """The current partition files of ``datasets`` (superseded ones stay until ``lake expire``)."""
    from lairs_etl.views import read_manifest

    manifest = read_manifest(str(lake))
    if manifest is None:
        return 0
    return sum(len(e.files) for e in manifest.tables if e.key.dataset in datasets)


def _serve(settings: Path, home: Path, echo: Callable[[str], None]) -> None:
    # The package's workspace: the code location is "lairs", checkout or install alike.
    workspace = Path(__file__).resolve().parents[1] / "dagster" / "workspace.yaml"
    target = ["-w", str(workspace)]
    env = {**os.environ, "LAIRS_CONFIG": str(settings), "DAGSTER_HOME": str(home)}
    echo("starting the Dagster UI (dagster dev); Ctrl-C stops it and the PDS")
    command = [str(Path(sys.executable).with_name("dagster")), "dev", *target]
    try:
        subprocess.run(command, env=env, check=False)  # noqa: S603  # our own executable and arguments
    except KeyboardInterrupt:
        echo("stopped")
