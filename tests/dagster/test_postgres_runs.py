"""Several Dagster runs at once on PostgreSQL storage, each committing: nothing is lost.

The runs are ``dagster asset materialize`` processes with Dagster's default
(multiprocess) executor, as a deployment's run workers would be.

SQLite storage serializes writers (the README sends concurrent deployments to Postgres);
this is the deployment that claim is about: three runs on three actors, started together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from lairs_etl.dagster import partition_key
from lairs_etl.dagster.constants import ACTORS_PARTITIONS, POOL
from lairs_etl.dagster.instance import PostgresStorage
from lairs_etl.demo import SeededCorpus
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from lairs_etl.views import TableKey, read_manifest
from tests.dagster.conftest import Deployment
from tests.fixtures.postgres import PASSWORD_ENV, PostgresServer

pytestmark = [pytest.mark.pds, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STAGES = "layers/fetched,layers/validated,layers/committed,layers/parquet"
TYPES = record_types()


@pytest.fixture(scope="module", params=[False, True], ids=["dagster-postgres", "pooled"])
def storage(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> PostgresStorage:
    """This module's deployment is on PostgreSQL only (overrides the conftest's two storages):
    Dagster's own ``storage: postgres``, and the pooled storages (:mod:`lairs_etl.dagster.pooled`),
    where each step process holds its own pooled connection."""
    database = postgres_server.database("runs")
    return PostgresStorage(
        postgres_server.host,
        database,
        postgres_server.user,
        postgres_server.port,
        password_env=PASSWORD_ENV,
        pooled=request.param,
    )


def _start(deployment: Deployment, did: str, log: Path) -> subprocess.Popen[bytes]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    first, last = partition_key(did, TYPES[0]), partition_key(did, TYPES[-1])
    command = [
        dagster,
        "asset",
        "materialize",
        "-f",
        str(ROOT / "definitions.py"),
        "--select",
        STAGES,
        "--partition-range",
        f"{first}...{last}",
    ]
    with log.open("wb") as sink:  # a file, not a pipe: a run never waits on its reader
        return subprocess.Popen(
            command, env={**os.environ, **deployment.env()}, stdout=subprocess.DEVNULL, stderr=sink
        )


def _errors(stderr: str) -> str:
    """The lines of a failed run's log that say why (the whole log is long)."""
    lines = stderr.splitlines()
    picked = [line for line in lines if "ERROR" in line or "Error" in line or "FAILURE" in line]
    return "\n".join(picked[-20:] or lines[-40:])


def test_runs_on_different_actors_at_once_all_commit_and_all_are_recorded(
    deployment: Deployment, corpus: SeededCorpus, tmp_path: Path
) -> None:
    with DagsterInstance.from_config(str(deployment.home)) as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, [a.did for a in corpus.actors])
    # The deployment step the README gives for Postgres: the pool's slots set once, so no
    # two runs initialize it from `default_limit` at once (Dagster 1.13 fails one of them).
    dagster = str(Path(sys.executable).with_name("dagster"))
    subprocess.run(
        [dagster, "instance", "concurrency", "set", POOL, "4"],
        env={**os.environ, **deployment.env()},
        check=True,
        capture_output=True,
        timeout=120,
    )
    logs = [tmp_path / f"run-{n}.log" for n in range(len(corpus.actors))]
    runs = [_start(deployment, actor.did, log) for actor, log in zip(corpus.actors, logs, strict=True)]
    try:
        codes = [run.wait(timeout=600) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    failed = [log.read_text(errors="replace") for log, code in zip(logs, codes, strict=True) if code]
    assert not failed, "\n\n".join(_errors(err) for err in failed)

    expected = {str(partition_key(a.did, t)) for a in corpus.actors for t in TYPES}
    with DagsterInstance.from_config(str(deployment.home)) as instance:
        for stage in ("committed", "parquet"):
            assert set(instance.get_materialized_partitions(AssetKey(["layers", stage]))) == expected
        finished = instance.get_runs()
        # The CLI's runs use Dagster's default executor: each step in its own process.
        workers = [
            instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_WORKER_STARTED) for run in finished
        ]
    assert [run.status for run in finished] == [DagsterRunStatus.SUCCESS] * len(corpus.actors)
    assert all(workers)

    # Every run's commit landed on the branch: no actor lost to another run's commit.
    repo = Repository.open(str(deployment.root / "repo"))
    actors = repo.actors()
    for actor in corpus.actors:
        stored = {str(r.uri) for r in repo.iter_records(dids=[actor.did])}
        assert stored == {str(u) for u in actor.uris}
        assert (actors[actor.did].valid_count, actors[actor.did].invalid_count) == (len(TYPES) - 2, 2)
    # And every run's lake rows are registered.
    manifest = read_manifest(str(deployment.root / "lake"))
    assert manifest is not None
    entry = manifest.table(TableKey("records", "pub.layers.expression.expression"))
    assert entry is not None
    assert set(entry.partitions) == {a.did for a in corpus.actors}
