"""Dagster resources: the ATProto client, the corpus repository and the lake.

Each resource holds configuration only (every field accepts ``EnvVar``) and hands out
library objects; the assets and sensors call the library through them. Secrets (S3
keys) go in the ``key``/``secret`` fields, which Dagster shows as the environment
variable's name when set through ``EnvVar``; nothing here logs or returns them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from lairs_etl.atproto.identity import DEFAULT_PLC_URL, IdentityResolver
from lairs_etl.atproto.limits import FetchLimits
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, NotFoundError
from lairs_etl.repo.repository import Repository

if TYPE_CHECKING:
    from lairs_etl.views import CatalogChoice

__all__ = ["AtprotoResource", "LakeResource", "RepositoryResource", "checked_limits"]


class AtprotoResource(ConfigurableResource[Any]):
    """Where identities resolve and how hard the network may be pushed."""

    plc_url: str = Field(default=DEFAULT_PLC_URL, description="PLC directory resolving did:plc.")
    relay_url: str | None = Field(default=None, description="Relay for listReposByCollection discovery.")
    appview_url: str | None = Field(
        default=None,
        description="Layers appview asked where records naming a corpus are (untrusted: each record "
        "is still fetched from its owner's PDS and verified).",
    )
    handle_service: str | None = Field(default=None, description="Service answering resolveHandle.")
    allow_private_hosts: bool = Field(
        default=False, description="Allow loopback and private PDS hosts (never link-local or metadata ones)."
    )
    allow_metadata_hosts: bool = Field(
        default=False, description="Also allow link-local and cloud metadata addresses (almost never right)."
    )
    max_concurrency_per_host: int = Field(default=8, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0)
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description="Fetch budgets by name, numbers or sizes such as '64MiB' "
        "(lairs_etl.atproto.limits.FetchLimits: request_seconds, actor_seconds, json_bytes, "
        "download_bytes, actor_bytes, records_bytes, decompression_ratio, pages, json_depth); "
        "unset ones keep their defaults.",
    )

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Names and values checked when the resource is built, not when a run fetches."""
        return checked_limits(value)

    def fetch_limits(self) -> FetchLimits:
        """The budgets, defaults with ``limits`` applied.

        Raises:
            ConfigError: an unknown limit name or a value that is not a positive number.
        """
        return FetchLimits().with_overrides(self.limits)

    def client(self) -> XrpcClient:
        """A new thread-safe XRPC client (close it, or use it as a context manager)."""
        return XrpcClient(
            allow_private_hosts=self.allow_private_hosts,
            allow_metadata_hosts=self.allow_metadata_hosts,
            max_concurrency_per_host=self.max_concurrency_per_host,
            timeout=self.timeout_seconds,
            limits=self.fetch_limits(),
        )

    def resolver(self, client: XrpcClient) -> IdentityResolver:
        """An identity resolver on ``client`` using the configured PLC and handle service."""
        return IdentityResolver(client, plc_url=self.plc_url, handle_service=self.handle_service)


def checked_limits(value: dict[str, Any]) -> dict[str, Any]:
    """``limits`` as given, once every name and value is one :class:`FetchLimits` takes.

    Raises:
        ValueError: an unknown name or a value that is not a positive number or size
            (pydantic reports it as the field's error).
    """
    try:
        FetchLimits().with_overrides(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from exc
    return value


class _FsspecLocation(ConfigurableResource[Any]):
    url: str = Field(description="fsspec URL (file path, memory://, s3://bucket/prefix).")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="Non-secret fsspec options.")
    key: str | None = Field(default=None, description="Access key id (use EnvVar).")
    secret: str | None = Field(default=None, description="Secret access key (use EnvVar).")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint.")

    def options(self) -> dict[str, Any]:
        """``storage_options`` with the credential fields merged in (never logged)."""
        merged = dict(self.storage_options)
        if self.key is not None:
            merged["key"] = self.key
        if self.secret is not None:
            merged["secret"] = self.secret
        if self.endpoint_url is not None:
            merged.setdefault("client_kwargs", {})["endpoint_url"] = self.endpoint_url
        return merged


class RepositoryResource(_FsspecLocation):
    """The corpus repository; created on first use."""

    branch: str = Field(default="main", description="Branch the partitions commit to.")

    def open(self) -> Repository:
        """The repository (initialised when missing), its default branch set to ``branch``.

        Raises:
            ConfigError: bad URL, options or branch name.
            RepositoryCorruptError: something that is not a repository lives there.
        """
        try:
            repo = Repository.open(self.url, self.options())
        except NotFoundError:
            repo = Repository.init(self.url, self.options(), branch=self.branch)
        repo.default_branch = self.branch
        return repo


class LakeResource(_FsspecLocation):
    """Where the lake's Iceberg tables (Parquet files and their metadata) are written."""

    catalog: str | None = Field(
        default=None,
        description="Iceberg catalog of the lake's tables: a SQLAlchemy URL (no password) or a catalog "
        "named in pyiceberg's configuration (REST, Glue ...). Unset: the one the lake records, by "
        "default a SQLite file beside it.",
    )
    catalog_namespace: str | None = Field(
        default=None, description="Namespace of the lake's tables in `catalog` (default: lairs)."
    )

    def catalog_choice(self) -> CatalogChoice | None:
        """The catalog to register tables in (``None``: the one the lake records).

        Raises:
            ConfigError: a namespace without a catalog, a URL with a password, a bad name.
        """
        from lairs_etl.views.catalogref import choose_catalog

        return choose_catalog(self.catalog, self.catalog_namespace)

    def filesystem(self) -> tuple[Any, str]:
        """``(fsspec filesystem, root path)`` for the lake URL."""
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(self.url, **self.options())
        return fs, str(root).rstrip("/")
