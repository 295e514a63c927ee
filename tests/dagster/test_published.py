"""``layers/published`` end to end: Dagster materializes one actor's partition on the real PDS.

Each test builds the demo corpus of a fresh account into a local repository, writes the
deployment's settings over it and materializes the asset in-process through the code
location :func:`definitions_from_file` builds, as a deployment would launch it.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dagster import AssetKey, AssetsDefinition, DagsterInstance, ExecuteInProcessResult, materialize

from lairs_etl.dagster import definitions_from_file
from lairs_etl.dagster.constants import ACTORS_PARTITIONS
from lairs_etl.demo.runner import write_settings
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository
from tests.publish._corpus import demo_batch

if TYPE_CHECKING:
    from dagster import Definitions

    from lairs_etl.localpds import Account, LocalPds

pytestmark = [pytest.mark.pds, pytest.mark.slow]

PUBLISHED = AssetKey(["layers", "published"])
PASSWORD_ENV = "LAIRS_APP_PASSWORD"


@dataclass
class _Setup:
    account: Account
    repo: Repository
    defs: Definitions
    instance: DagsterInstance
    password: str

    def local_cids(self) -> dict[str, str]:
        head = self.repo.default_branch
        return {str(r.uri): r.cid.encode() for r in self.repo.iter_records(head, dids=[self.account.did])}

    def pds_cids(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for collection in record_types():
            for item in self.account.list_records(collection):
                found[str(item["uri"])] = str(item["cid"])
        return found

    def materialize(
        self, config: dict[str, object] | None = None, *, raise_on_error: bool = True
    ) -> ExecuteInProcessResult:
        run_config = {"ops": {"layers_published": {"config": config}}} if config is not None else None
        return materialize(
            [a for a in self.defs.assets or () if isinstance(a, AssetsDefinition)],
            selection=[PUBLISHED],
            partition_key=self.account.did,
            resources=dict(self.defs.resources or {}),
            instance=self.instance,
            run_config=run_config,
            raise_on_error=raise_on_error,
        )


@pytest.fixture
def branch() -> str:
    return "main"


@pytest.fixture
def setup(
    tmp_path: Path, local_pds: LocalPds, pds_account: Callable[..., Account], branch: str
) -> Iterator[_Setup]:
    password = f"pw-{secrets.token_hex(12)}"
    account = pds_account("dgpub", password)
    settings = write_settings(tmp_path, local_pds)
    fields = json.loads(settings.read_text(encoding="utf-8"))
    fields["repository"]["branch"] = branch
    settings.write_text(json.dumps(fields), encoding="utf-8")
    repo = Repository.init(str(tmp_path / "repo"), branch=branch)
    repo.stage(account.did, demo_batch(account.did, expressions=3).entries(), replace=True)
    repo.commit("demo corpus", "tests")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ACTORS_PARTITIONS, [account.did])
        yield _Setup(account, repo, definitions_from_file(settings), instance, password)


def _publish_metadata(result: ExecuteInProcessResult) -> dict[str, object]:
    (materialization,) = result.asset_materializations_for_node("layers_published")
    assert materialization.partition == result.dagster_run.tags["dagster/partition"]
    return {key: value.value for key, value in materialization.metadata.items()}


def test_dry_run_plans_without_writing_or_needing_the_password(
    setup: _Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)  # a plan reads the PDS anonymously
    before = setup.pds_cids()
    head = setup.account.latest_commit()
    result = setup.materialize()
    assert result.success
    assert setup.pds_cids() == before == {}
    assert setup.account.latest_commit() == head
    meta = _publish_metadata(result)
    assert meta["lairs_etl/applied"] is False
    publish = meta["lairs_etl/publish"]
    assert isinstance(publish, dict)
    plan = publish["plan"]
    local = setup.local_cids()
    assert (plan["creates"], plan["updates"], plan["deletes"], plan["unchanged"]) == (len(local), 0, 0, 0)
    assert publish["writes"] == publish["calls"] == 0
    shown = meta["lairs_etl/plan"]
    assert isinstance(shown, str)
    assert all(f"create {uri} {cid}" in shown for uri, cid in local.items())


def test_apply_lands_the_revision_then_writes_nothing(setup: _Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, setup.password)
    local = setup.local_cids()
    published = setup.repo.resolve("main").encode()
    result = setup.materialize({"apply": True})
    assert result.success
    assert setup.pds_cids() == local  # same URIs, same CIDs
    meta = _publish_metadata(result)
    assert meta["lairs_etl/applied"] is True
    publish = meta["lairs_etl/publish"]
    assert isinstance(publish, dict)
    assert publish["writes"] == len(local)
    assert publish["calls"] >= 1
    assert publish["plan"]["creates"] == len(local)
    assert (publish["rev"], publish["commit"]) == ("main", published)
    assert publish["recorded_commit"] == setup.repo.resolve("main").encode() != published
    assert meta["lairs_etl/pds_rev"] == setup.account.latest_commit().rev
    head = setup.account.latest_commit()
    again = _publish_metadata(setup.materialize({"apply": True}))["lairs_etl/publish"]
    assert isinstance(again, dict)
    assert (again["writes"], again["calls"]) == (0, 0)
    counts = {k: again["plan"][k] for k in ("creates", "updates", "deletes", "unchanged")}
    assert counts == {"creates": 0, "updates": 0, "deletes": 0, "unchanged": len(local)}
    assert setup.account.latest_commit() == head
    assert setup.pds_cids() == local


def test_a_refused_login_fails_the_run_with_a_typed_reason_and_writes_nothing(
    setup: _Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    before = setup.account.latest_commit()
    result = setup.materialize({"apply": True}, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    info = failure.step_failure_data.user_failure_data
    assert info is not None
    meta = {key: value.value for key, value in info.metadata.items()}
    assert str(meta["lairs_etl/error"]).startswith("PublishError: could not log in")
    assert (meta["lairs_etl/landed_count"], meta["lairs_etl/landed"]) == (0, [])
    assert "not-the-password" not in str(info.description)
    assert "not-the-password" not in str(meta["lairs_etl/error"])
    assert setup.account.latest_commit() == before
    assert setup.pds_cids() == {}


@pytest.mark.parametrize("branch", ["corpus"])
def test_the_default_revision_is_the_branch_the_deployment_commits_to(
    setup: _Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, setup.password)
    result = setup.materialize({"apply": True})
    assert result.success
    assert setup.pds_cids() == setup.local_cids() != {}
    publish = _publish_metadata(result)["lairs_etl/publish"]
    assert publish["rev"] == "corpus"  # type: ignore[index]


def test_an_edit_plans_updates_and_deletes_as_the_revision_implies(
    setup: _Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, setup.password)
    assert setup.materialize({"apply": True}).success
    did = setup.account.did
    memberships = [
        r
        for r in setup.repo.iter_records(setup.repo.default_branch, dids=[did])
        if r.uri.collection == "pub.layers.corpus.membership"
    ]
    setup.repo.stage(
        did, [], replace=False, deleted=[(str(r.uri.collection), str(r.uri.rkey)) for r in memberships]
    )
    setup.repo.commit("drop memberships", "tests")
    before = setup.pds_cids()
    dry = _publish_metadata(setup.materialize())
    plan = dry["lairs_etl/publish"]["plan"]  # type: ignore[index]
    assert (plan["creates"], plan["updates"], plan["deletes"]) == (0, 0, len(memberships))
    assert setup.pds_cids() == before
    applied = _publish_metadata(setup.materialize({"apply": True}))
    assert applied["lairs_etl/publish"]["writes"] == len(memberships)  # type: ignore[index]
    assert setup.pds_cids() == setup.local_cids()


def test_the_password_appears_in_no_metadata_config_or_log(
    setup: _Setup,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, setup.password)
    caplog.set_level(logging.DEBUG)
    result = setup.materialize({"apply": True, "password_env": PASSWORD_ENV})
    assert result.success
    assert setup.pds_cids() == setup.local_cids()  # the password was really used
    (materialization,) = result.asset_materializations_for_node("layers_published")
    shown = [json.dumps(v.value, default=str) for v in materialization.metadata.values()]
    run = setup.instance.get_run_by_id(result.run_id)
    assert run is not None
    shown.append(json.dumps(run.run_config, default=str))
    shown.append(repr(run.tags))
    shown.extend(repr(e) for e in setup.instance.all_logs(result.run_id))
    shown.extend(r.getMessage() for r in caplog.records)
    out, err = capfd.readouterr()
    shown += [out, err]
    assert any(PASSWORD_ENV in text for text in shown)  # the name is fine and does show
    leaks = [text[:200] for text in shown if setup.password in text]
    assert leaks == []
