"""The factory's surface without a PDS: translator overrides, settings, component, secrets."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

import lairs_etl.dagster as public
from lairs_etl.atproto.identity import DEFAULT_PLC_URL
from lairs_etl.dagster import (
    AtprotoResource,
    LairsSettings,
    LakeResource,
    LayersAssetData,
    LayersTranslator,
    RepositoryResource,
    build_change_sensor,
    build_definitions,
    build_refresh_schedule,
    build_resources,
    layers_assets,
    snapshot_asset,
)
from lairs_etl.dagster.components import LayersComponent
from lairs_etl.dagster.constants import (
    ASSET_METADATA,
    FIREHOSE_JOB,
    METADATA_DESCRIPTIONS,
    PARTITIONS_JOB,
    REFRESH_JOB,
)
from lairs_etl.dagster.instance import instance_yaml
from lairs_etl.errors import ConfigError
from lairs_etl.records import record_types

STAGES = ["fetched", "validated", "committed", "parquet"]

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, **extra: object) -> LairsSettings:
    return LairsSettings.model_validate(
        {"repository": {"url": str(tmp_path / "repo")}, "lake": {"url": str(tmp_path / "lake")}, **extra}
    )


def test_public_surface_is_sorted_and_importable() -> None:
    assert list(public.__all__) == sorted(public.__all__)
    for name in public.__all__:
        assert getattr(public, name) is not None


def test_default_keys_partitions_and_checks(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {f"layers/{s}" for s in [*STAGES, "snapshot", "warehouse", "published"]}
    partitions = graph.get(dg.AssetKey(["layers", "parquet"])).partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in partitions.partitions_defs}
    assert isinstance(dims["actor"], dg.DynamicPartitionsDefinition)
    assert dims["collection"].get_partition_keys() == list(record_types())
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("layers/fetched", "verification_passed") in checks
    assert ("layers/parquet", "parquet_rows_match_committed") in checks
    assert ("layers/validated", "invalid_rate_below_threshold") in checks
    assert {s.name for s in defs.sensors or ()} == {"lairs_discovery", "lairs_changes"}
    schedule = defs.resolve_schedule_def("lairs_refresh")
    assert schedule.cron_schedule == "0 3 * * *"


class _Renamed(LayersTranslator):
    def get_asset_spec(self, data: LayersAssetData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey(["corpus", data.stage]),
            deps=[dg.AssetKey(["corpus", d.path[-1]]) for d in data.deps],
            group_name="annotations",
        ).merge_attributes(tags={"team": "nlp"})


def test_translator_renames_keys_and_rewires_dependencies(tmp_path: Path) -> None:
    assets = layers_assets(translator=_Renamed(), collections=["pub.layers.expression.expression"])
    snapshot = snapshot_asset(translator=_Renamed())
    resources = build_resources(_settings(tmp_path))
    graph = dg.Definitions(assets=[assets, snapshot], resources=resources).resolve_asset_graph()
    parquet = graph.get(dg.AssetKey(["corpus", "parquet"]))
    assert parquet.parent_keys == {dg.AssetKey(["corpus", "committed"])}
    assert parquet.group_name == "annotations"
    assert parquet.tags["team"] == "nlp"
    assert graph.get(dg.AssetKey(["corpus", "snapshot"])).parent_keys == {
        dg.AssetKey(["corpus", "committed"]),
        dg.AssetKey(["corpus", "parquet"]),
    }


def test_unknown_collection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not Layers record types"):
        build_definitions(_settings(tmp_path, collections=["pub.layers.nope.nope"]))


def test_settings_file_resolves_relative_paths_and_env_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lairs.yaml").write_text(
        "repository:\n  url: data/repo\n  key: ${LAIRS_TEST_KEY}\n  secret: ${LAIRS_TEST_SECRET}\n"
        "lake:\n  url: s3://bucket/lake\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LAIRS_TEST_KEY", "AKIA-not-shown")
    monkeypatch.setenv("LAIRS_TEST_SECRET", "very-secret-value")
    settings = LairsSettings.from_yaml(tmp_path / "lairs.yaml")
    assert settings.repository.url == str(tmp_path / "data" / "repo")
    assert settings.lake.url == "s3://bucket/lake"
    resources = build_resources(settings)
    repository = resources["repository"]
    dumped = repr(repository) + str(repository._get_non_default_public_field_values())
    assert "very-secret-value" not in dumped
    assert "LAIRS_TEST_SECRET" in dumped


def test_bad_settings_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "lairs.yaml").write_text(
        "repository: {url: x}\nlake: {url: y}\nunknown: 1\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="invalid settings"):
        LairsSettings.from_yaml(tmp_path / "lairs.yaml")


def test_a_corpus_that_is_not_a_corpus_uri_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "lairs.yaml").write_text(
        "repository: {url: x}\nlake: {url: y}\ncorpora: ['at://alice.test/pub.layers.expression.expression/3k']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"does not name a pub\.layers\.corpus\.corpus record"):
        LairsSettings.from_yaml(tmp_path / "lairs.yaml")
    (tmp_path / "lairs.yaml").write_text(
        "repository: {url: x}\nlake: {url: y}\ncorpora: ['at://alice.test/pub.layers.corpus.corpus/3k']\n",
        encoding="utf-8",
    )
    assert LairsSettings.from_yaml(tmp_path / "lairs.yaml").corpora == [
        "at://alice.test/pub.layers.corpus.corpus/3k"
    ]


def test_component_builds_the_same_location(tmp_path: Path) -> None:
    component = LayersComponent(
        repository={"url": "repo"},
        lake={"url": "lake"},
        collections=["pub.layers.corpus.corpus"],
        refresh={"cron": "0 5 * * *"},
    )
    settings = component.settings(tmp_path)
    assert settings.repository.url == str(tmp_path / "repo")
    defs = build_definitions(settings)
    assert defs.resolve_schedule_def("lairs_refresh").cron_schedule == "0 5 * * *"


def test_component_resolves_from_yaml_attributes() -> None:
    component = LayersComponent.resolve_from_yaml(
        "repository: {url: /tmp/r}\nlake: {url: /tmp/l}\ndiscovery: {seeds: [alice.test]}\n"
    )
    assert component.settings().discovery.seeds == ["alice.test"]


def test_every_settings_section_is_a_component_attribute(tmp_path: Path) -> None:
    component = LayersComponent.resolve_from_yaml(
        "repository: {url: r}\nlake: {url: l}\n"
        "corpora: [at://alice.test/pub.layers.corpus.corpus/3k]\n"
        "media: {fetch: true, max_bytes: 1024}\nfirehose: {follow: true, relay_url: http://127.0.0.1:1}\n"
    )
    settings = component.settings(tmp_path)
    assert settings.corpora == ["at://alice.test/pub.layers.corpus.corpus/3k"]
    assert (settings.media.fetch, settings.media.max_bytes) == (True, 1024)
    assert (settings.firehose.follow, settings.firehose.relay_url) == (True, "http://127.0.0.1:1")
    assert set(LayersComponent.model_fields) == set(LairsSettings.model_fields)


def test_settings_sections_take_the_resources_fields_and_defaults(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        atproto={"appview_url": "http://127.0.0.1:2", "max_concurrency_per_host": 3},
        repository={"url": str(tmp_path / "repo"), "branch": "corpus"},
        lake={"url": str(tmp_path / "lake"), "endpoint_url": "http://127.0.0.1:3"},
    )
    resources = build_resources(settings)
    atproto, repository, lake = resources["atproto"], resources["repository"], resources["lake"]
    assert isinstance(atproto, AtprotoResource)
    assert (atproto.appview_url, atproto.max_concurrency_per_host) == ("http://127.0.0.1:2", 3)
    assert atproto.plc_url == DEFAULT_PLC_URL == _settings(tmp_path).atproto.model_dump()["plc_url"]
    assert isinstance(repository, RepositoryResource)
    assert repository.branch == "corpus"
    assert isinstance(lake, LakeResource)
    assert lake.options()["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:3"}
    for section, bad in (("atproto", {"max_concurrency_per_host": 0}), ("lake", {"url": "l", "branch": "x"})):
        with pytest.raises(ValueError, match=section):
            _settings(tmp_path, **{section: bad})


def test_schedule_and_change_sensor_skip_without_actors(tmp_path: Path) -> None:
    from lairs_etl.dagster.inprocess import schedule_run_requests, tick_sensor

    defs = build_definitions(_settings(tmp_path))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert schedule_run_requests(defs, "lairs_refresh", instance) == []
        tick = tick_sensor(defs, "lairs_changes", instance)
    assert tick.run_requests == ()
    assert tick.skip_reason is not None
    assert "no actor partitions" in tick.skip_reason


def test_limits_and_host_switches_reach_the_client(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        atproto={"allow_private_hosts": True, "limits": {"request_seconds": 30, "actor_bytes": "2MiB"}},
    )
    resource = build_resources(settings)["atproto"]
    with resource.client() as client:  # type: ignore[attr-defined]
        assert (client.limits.request_seconds, client.limits.actor_bytes) == (30.0, 2 * 1024 * 1024)
        assert client.limits.pages == 100_000  # unset: the default
        assert client.allow_private_hosts
        assert not client.allow_metadata_hosts


@pytest.mark.parametrize("limits", [{"request_secs": 30}, {"actor_bytes": "lots"}, {"pages": 0}])
def test_bad_limits_fail_when_settings_load(tmp_path: Path, limits: dict[str, object]) -> None:
    path = tmp_path / "lairs.yaml"
    path.write_text(
        f"repository: {{url: repo}}\nlake: {{url: lake}}\natproto: {{limits: {limits!r}}}\n".replace("'", '"')
    )
    with pytest.raises(ConfigError, match="limit"):
        LairsSettings.from_yaml(path)


def test_the_lake_catalog_comes_from_settings_and_a_password_in_it_is_refused(tmp_path: Path) -> None:
    from lairs_etl.views import CatalogChoice

    (tmp_path / "lairs.yaml").write_text(
        "repository: {url: repo}\nlake: {url: lake, catalog: team, catalog_namespace: corpus}\n",
        encoding="utf-8",
    )
    lake = build_resources(LairsSettings.from_yaml(tmp_path / "lairs.yaml"))["lake"]
    assert lake.catalog_choice() == CatalogChoice("team", "corpus")  # type: ignore[attr-defined]
    assert build_resources(_settings(tmp_path))["lake"].catalog_choice() is None  # type: ignore[attr-defined]

    (tmp_path / "lairs.yaml").write_text(
        "repository: {url: repo}\nlake: {url: lake, catalog: 'postgresql://u:pw@db/iceberg'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="password"):
        LairsSettings.from_yaml(tmp_path / "lairs.yaml")


def test_the_committed_instance_file_says_what_instance_yaml_writes() -> None:
    # The demo and the tests write instance_yaml(); users start from the committed file.
    committed = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text(encoding="utf-8"))
    written = yaml.safe_load(instance_yaml())
    assert committed == written
    assert written["concurrency"]["pools"]["default_limit"] > 0  # the refresh pool has slots


def test_every_asset_description_explains_its_metadata_keys(tmp_path: Path) -> None:
    firehose = {"follow": True, "relay_url": "wss://relay.example.com"}
    defs = build_definitions(_settings(tmp_path, media={"fetch": True}, firehose=firehose))  # every asset
    graph = defs.resolve_asset_graph()
    for stage, keys in ASSET_METADATA.items():
        description = graph.get(dg.AssetKey(["layers", stage])).description or ""
        for key in keys:
            assert f"`{key}`: {METADATA_DESCRIPTIONS[key]}" in description, (stage, key)
    for sensor in defs.sensors or ():
        assert sensor.description, sensor.name
    for schedule in defs.schedules or ():
        assert schedule.description, schedule.name
    for name in (REFRESH_JOB, PARTITIONS_JOB, FIREHOSE_JOB):
        assert defs.resolve_job_def(name).description, name


def test_several_refresh_schedules_and_change_sensors_live_in_one_location(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    keys = [dg.AssetKey(["layers", stage]) for stage in STAGES]
    extra = dg.Definitions(
        schedules=[build_refresh_schedule(collections=record_types(), asset_keys=keys, name="weekly")],
        sensors=[build_change_sensor(collections=record_types(), asset_keys=keys, name="slow_changes")],
    )
    merged = dg.Definitions.merge(defs, extra)
    assert merged.resolve_job_def("weekly_job").name == "weekly_job"
    assert merged.resolve_job_def("slow_changes_job").name == "slow_changes_job"
    assert merged.resolve_job_def(REFRESH_JOB).name == REFRESH_JOB


def test_the_parquet_asset_shows_its_lake_tables_from_the_lexicons(
    tmp_path: Path, lexicon_docs: dict[str, dict[str, object]]
) -> None:
    collections = ["pub.layers.expression.expression", "pub.layers.annotation.annotationLayer"]
    defs = build_definitions(_settings(tmp_path, collections=collections))
    node = defs.resolve_asset_graph().get(dg.AssetKey(["layers", "parquet"]))
    metadata = node.metadata
    shared = {c.name for c in metadata["dagster/column_schema"].schema.columns}
    assert {"uri", "did", "cid"} <= shared
    rows = {r.data["collection"]: r.data for r in metadata["lairs_etl/tables"].records}
    assert set(rows) == set(collections)
    for nsid, row in rows.items():
        record = lexicon_docs[nsid]["defs"]["main"]["record"]  # type: ignore[index]
        properties = set(record["properties"])
        # Every property the lexicon declares is a column of the collection's table.
        assert properties <= set(row["own_columns"].split(", ")) | shared, nsid
        assert row["view"] == nsid.replace(".", "_")
    # The other stages carry no table metadata: they are not lake tables.
    fetched = defs.resolve_asset_graph().get(dg.AssetKey(["layers", "fetched"]))
    assert "lairs_etl/tables" not in fetched.metadata
