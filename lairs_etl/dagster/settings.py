"""A deployment's settings, from one YAML file (``lairs.yaml``) plus the environment.

A string value ``${NAME}`` becomes Dagster's ``EnvVar("NAME")`` for resource fields, so
secrets are read when a run starts and shown by name, never by value, in the UI and in
config dumps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from lairs_etl.atproto.fetch.model import FetchMode
from lairs_etl.dagster.resource import AtprotoResource, LakeResource, RepositoryResource, checked_limits
from lairs_etl.errors import ConfigError

__all__ = [
    "AtprotoSettings",
    "DiscoverySettings",
    "LairsSettings",
    "LakeSettings",
    "MaintenanceSettings",
    "RefreshSettings",
    "RepositorySettings",
]

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _section(resource: type[BaseModel], name: str) -> Any:  # a class made at run time: Any to a checker
    """A settings section with exactly ``resource``'s fields (types, defaults, constraints).

    The resource declares its configuration once; ``lairs.yaml`` takes the same names
    and is checked against the same types and bounds when it loads, before any run
    starts. The resource's validators are not copied: a section states the checks it
    makes at load itself (``limits``, the lake's catalog).
    """
    fields: dict[str, Any] = {field: (info.annotation, info) for field, info in resource.model_fields.items()}
    return create_model(name, __base__=_Strict, __module__=__name__, **fields)


_AtprotoFields: Any = _section(AtprotoResource, "_AtprotoFields")
_RepositoryFields: Any = _section(RepositoryResource, "_RepositoryFields")
_LakeFields: Any = _section(LakeResource, "_LakeFields")


class AtprotoSettings(_AtprotoFields):  # type: ignore[misc]  # fields built from the resource
    """The ``atproto`` section: the fields of :class:`~lairs_etl.dagster.resource.AtprotoResource`."""

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Checked when the file loads, by the resource's own check (not copied with the fields)."""
        return checked_limits(value)


class RepositorySettings(_RepositoryFields):  # type: ignore[misc]
    """The ``repository`` section: the fields of :class:`~lairs_etl.dagster.resource.RepositoryResource`."""


class LakeSettings(_LakeFields):  # type: ignore[misc]
    """The ``lake`` section: the fields of :class:`~lairs_etl.dagster.resource.LakeResource`.

    ``catalog`` is a SQLAlchemy URL without a password, or the name of a catalog in
    pyiceberg's configuration (REST, Glue ...); unset keeps what the lake records (by
    default its own SQLite file).
    """

    @model_validator(mode="after")
    def _usable_catalog(self) -> LakeSettings:
        """A bad catalog (a password in its URL, a namespace alone) fails when settings load."""
        from lairs_etl.views.catalogref import choose_catalog

        catalog: str | None = self.catalog
        if catalog is not None and catalog.startswith("${"):
            return self  # the environment's value is checked when the resource is used
        try:
            choose_catalog(catalog, self.catalog_namespace)
        except ConfigError as exc:
            raise ValueError(exc.message) from exc
        return self


class ClosureSettings(_Strict):
    """How far a corpus's reference closure goes (see ``lairs_etl.sync.ClosureLimits``)."""

    max_depth: int = Field(default=4, ge=0)
    max_actors: int = Field(default=1000, ge=1)


class DiscoverySettings(_Strict):
    """Where actors come from."""

    seeds: list[str] = Field(default_factory=list)
    closure: ClosureSettings = Field(default_factory=ClosureSettings)
    pds_hosts: list[str] = Field(default_factory=list)
    use_relay: bool = False
    interval_seconds: int = Field(default=3600, ge=30)


class RefreshSettings(_Strict):
    """How partitions are refreshed and checked."""

    cron: str = "0 3 * * *"
    fetch_mode: FetchMode = "auto"
    invalid_rate_threshold: float = Field(default=0.05, ge=0, le=1)
    workers: int = Field(default=4, ge=1)
    snapshot_tag_prefix: str | None = None
    warehouse_path: str | None = None
    change_interval_seconds: int = Field(default=300, ge=30)
    max_runs_per_tick: int = Field(default=500, ge=1)
    actor_shards: int | None = Field(default=None, ge=1, le=10_000)
    """``None``: a partition per actor x collection; else that many actor shards x collection.

    Switch to shards (256 is a good default) past a few thousand actors: actor x
    collection passes Dagster's guidance of 100,000 partitions per asset at 3,846 actors.
    """
    sensors_running: bool = False


class MaintenanceSettings(_Strict):
    """The lake's maintenance schedule (``lairs_lake_maintenance``): snapshot expiry, then compaction.

    Every refresh adds a snapshot to each table it changed, and each snapshot makes every
    query and every later commit read a bigger metadata file (``bench/lake_history.py``:
    after 75-100 snapshots a query of a table took 1.35-2.4 times as long, a round of
    commits 1.5-2.6 times). The schedule expires what no tag holds, past ``expire_older_than``.
    """

    cron: str = "30 4 * * *"
    expire_older_than: str | None = "7d"
    """An age, at least a day (``36h``, ``7d``, ``2w``); ``None`` keeps every snapshot.

    Files younger than it are never deleted, which is what keeps a refresh running at the
    same time from losing files it has written and not yet committed: hence the floor.
    """
    compact: bool = True
    """Merge the manifests each table's commits piled up (what every reader opens)."""

    @field_validator("expire_older_than")
    @classmethod
    def _age(cls, value: str | None) -> str | None:
        """An age of a day or more, checked at load rather than at the first nightly run."""
        import datetime as dt

        from lairs_etl.views.retention import age

        if value is None:
            return value
        try:
            kept = age(value)
        except ConfigError as exc:
            raise ValueError(f"maintenance.expire_older_than: {exc.message}") from exc
        if kept < dt.timedelta(days=1):
            raise ValueError(
                f"maintenance.expire_older_than: {value!r} is under a day; a refresh running "
                "meanwhile could lose files it has not committed yet"
            )
        return value


class MediaSettings(_Strict):
    """Blobs the records reference (``layers/media``): whether to define it, and which to fetch."""

    fetch: bool = False
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    mime: list[str] = Field(default_factory=lambda: ["audio/*", "video/*", "image/*", "application/pdf"])


class FirehoseSettings(_Strict):
    """Following the verified firehose (``layers/firehose``): defined only when ``follow`` is set."""

    follow: bool = False
    relay_url: str | None = None
    """The relay or PDS to follow (default: ``atproto.relay_url``)."""
    seconds_per_run: float = Field(default=55.0, gt=0)
    batch_seconds: float = Field(default=0.5, ge=0.05)
    """Longest a verified write waits for its repository commit and lake write."""
    discover: bool = False
    """Also follow any actor that writes a Layers collection (added as an actor partition)."""
    interval_seconds: int = Field(default=30, ge=5)


class LairsSettings(_Strict):
    """The whole deployment; every section has defaults except the two locations."""

    collections: list[str] | None = None
    corpora: list[str] = Field(default_factory=list)
    """AT-URIs of ``pub.layers.corpus.corpus`` records to keep fresh with every actor they reach."""

    @field_validator("corpora")
    @classmethod
    def _corpus_uris(cls, value: list[str]) -> list[str]:
        """Each a corpus record's AT-URI (a handle may stand for the DID), checked at load, not per tick."""
        from lairs_etl.sync.corpus import check_corpus_uri

        for uri in value:
            try:
                check_corpus_uri(uri)
            except ConfigError as exc:
                raise ValueError(f"corpora: {exc.message}") from exc
        return value

    atproto: AtprotoSettings = Field(default_factory=AtprotoSettings)
    repository: RepositorySettings
    lake: LakeSettings
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    refresh: RefreshSettings = Field(default_factory=RefreshSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    firehose: FirehoseSettings = Field(default_factory=FirehoseSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LairsSettings:
        """Read settings from a YAML file; relative local paths resolve against its folder.

        Raises:
            ConfigError: the file is missing, not YAML, or breaks the schema.
        """
        import yaml

        source = Path(path)
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings {source}: {exc}") from exc
        try:
            settings = cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"invalid settings {source}: {exc}") from exc
        return settings.relative_to(source.resolve().parent)

    def relative_to(self, base: Path) -> LairsSettings:
        """Resolve relative local URLs against ``base``."""
        return self.model_copy(
            update={
                "repository": _located(self.repository, base),
                "lake": _located(self.lake, base),
            }
        )


def env_or_value(value: Any) -> Any:
    """``EnvVar(NAME)`` for a ``${NAME}`` string, the value itself otherwise."""
    if isinstance(value, str):
        match = _ENV.match(value)
        if match:
            from dagster import EnvVar

            return EnvVar(match.group(1))
    return value


def _located(section: RepositorySettings | LakeSettings, base: Path) -> RepositorySettings | LakeSettings:
    """A location section whose relative local ``url`` is resolved against ``base``."""
    url = _absolute(section.url, base)
    located: RepositorySettings | LakeSettings = section.model_copy(update={"url": url})
    return located


def _absolute(url: str, base: Path) -> str:
    if "://" in url or _ENV.match(url) or Path(url).is_absolute():
        return url
    return str((base / url).resolve())
