"""A seeded corpus on the session PDS and a deployment (settings + DAGSTER_HOME) over it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lairs_etl.dagster.instance import instance_yaml
from lairs_etl.demo import SeededCorpus, seed_corpus
from lairs_etl.demo.runner import write_settings
from lairs_etl.localpds import LocalPds


@dataclass(frozen=True)
class Deployment:
    root: Path
    settings: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.home), "LAIRS_CONFIG": str(self.settings)}


@pytest.fixture(scope="module")
def corpus(local_pds: LocalPds) -> SeededCorpus:
    return seed_corpus(local_pds, actors=3, records_per_type=1, invalid_per_actor=2, prefix="dg")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, local_pds: LocalPds) -> Deployment:
    root = tmp_path_factory.mktemp("deployment")
    settings = write_settings(root, local_pds, snapshot_tag_prefix="t-")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)), encoding="utf-8")
    return Deployment(root, settings, home)
