"""A seeded corpus on the session PDS and a deployment (settings + DAGSTER_HOME) over it.

Every module using them runs twice: on Dagster's SQLite storage and on its PostgreSQL
storage (a fresh database of the session's real server), each with its own corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lairs_etl.dagster.instance import PostgresStorage, instance_yaml
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.demo.runner import write_settings
from lairs_etl.localpds import LocalPds
from tests.fixtures.postgres import PASSWORD_ENV, PostgresServer


@dataclass(frozen=True)
class Deployment:
    root: Path
    settings: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.home), "LAIRS_CONFIG": str(self.settings)}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest) -> PostgresStorage | None:
    """Dagster's instance storage: SQLite (None) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = server.database("dagster")
    return PostgresStorage(server.host, database, server.user, server.port, password_env=PASSWORD_ENV)


@pytest.fixture(scope="module")
def corpus(local_pds: LocalPds, storage: PostgresStorage | None) -> Iterator[SeededCorpus]:
    """Three actors of the module's own, deactivated when the module is done.

    Every module's discovery lists the whole session PDS, and a full refresh fetches every
    actor it found: without the teardown each module's corpus would add 26 partitions
    per actor to every later module's runs (on Postgres, ~0.6 s apiece), enough to push
    the last modules' refreshes past the per-test timeout.
    """
    prefix = "dg" if storage is None else "dp"
    seeded = seed_corpus(local_pds, actors=3, records_per_type=1, invalid_per_actor=2, prefix=prefix)
    yield seeded
    for actor in seeded.actors:  # discovery then reports them inactive, never adds them
        if actor.account is not None:
            actor.account.deactivate()
        else:
            local_pds.deactivate_account(actor.did)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, local_pds: LocalPds, storage: PostgresStorage | None
) -> Deployment:
    root = tmp_path_factory.mktemp("deployment")
    settings = write_settings(root, local_pds, snapshot_tag_prefix="t-")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home), postgres=storage), encoding="utf-8")
    return Deployment(root, settings, home)
