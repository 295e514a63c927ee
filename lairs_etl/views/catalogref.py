"""Which Iceberg catalog a lake's tables are registered in, recorded in the lake itself.

A lake's tables live in its own SQLite catalog file unless the writer chose another
catalog: a SQLAlchemy URL (``postgresql+psycopg2://lairs@db/iceberg``: one catalog for
a lake shared by several machines) or the *name* of a catalog configured the way every
pyiceberg user configures one (``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__*``
variables: a REST catalog such as Polaris, Glue, Nessie), with the namespace the tables
go in. The choice is written to ``<lake>/_lairs_catalog.json`` before anything is
registered there, so every later reader (the warehouse, ``lake tag``, ``lake expire``)
goes to the same catalog without being told; expiring through the wrong catalog would
delete files the right one still references. The record names a catalog, never holds
a secret: a URL with a password is refused (PostgreSQL reads ``PGPASSWORD``; a named
catalog keeps its credentials in pyiceberg's configuration or the environment).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import fsspec

from lairs_etl.errors import ConfigError, ViewsError
from lairs_etl.views.writer import replace_file, storage_errors

__all__ = [
    "CATALOG_RECORD",
    "DEFAULT_NAMESPACE",
    "CatalogChoice",
    "choose_catalog",
    "read_choice",
    "record_choice",
]

CATALOG_RECORD = "_lairs_catalog.json"
DEFAULT_NAMESPACE = "lairs"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SECRET_KEYS = frozenset({"password", "pwd", "passwd", "token", "secret", "sslpassword", "access_token"})


@dataclass(frozen=True, slots=True)
class CatalogChoice:
    """A catalog (``None``: the lake's own default) and the namespace of the lake's tables."""

    catalog: str | None = None
    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if self.catalog is not None:
            _check_catalog(self.catalog)
        if not _NAMESPACE.match(self.namespace):
            raise ConfigError(f"not a usable catalog namespace: {self.namespace!r} (letters, digits, _)")

    @property
    def is_url(self) -> bool:
        """Whether :attr:`catalog` is a SQLAlchemy URL (else a pyiceberg catalog name)."""
        return self.catalog is not None and "://" in self.catalog


def choose_catalog(catalog: str | None, namespace: str | None) -> CatalogChoice | None:
    """The choice a user's ``catalog`` and ``namespace`` settings make (``None``: keep the lake's).

    The one place the CLI, ``lairs.yaml`` and the Dagster resource turn settings into a
    choice, so they refuse the same things the same way.

    Raises:
        ConfigError: a namespace without a catalog, a URL holding a secret, a bad name.
    """
    if catalog is None:
        if namespace is not None:
            raise ConfigError("a catalog namespace needs a catalog")
        return None
    return CatalogChoice(catalog, namespace or DEFAULT_NAMESPACE)


def _check_catalog(spec: str) -> None:
    if "://" not in spec:
        if not _NAME.match(spec):
            raise ConfigError(f"not a catalog URL or pyiceberg catalog name: {spec!r}")
        return
    try:
        parts = urlsplit(spec)
        password = parts.password
        query = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    except ValueError as exc:
        raise ConfigError(f"not a catalog URL: {exc}") from exc
    if password or query & _SECRET_KEYS:
        raise ConfigError(
            "the catalog URL holds a password or key, which the lake would record in clear: "
            "leave it out (PostgreSQL reads PGPASSWORD) or name a pyiceberg catalog instead"
        )
    if parts.scheme.startswith("sqlite") and not spec.startswith(f"{parts.scheme}:////"):
        raise ConfigError(
            f"a SQLite catalog needs an absolute path ({parts.scheme}:////abs/path.sqlite): "
            "every process and machine reading the lake resolves it the same way"
        )


def read_choice(fs: fsspec.AbstractFileSystem, root: str) -> CatalogChoice:
    """The catalog recorded in the lake at ``root`` (the default when none is).

    Raises:
        ViewsError: the store cannot be read or the record is malformed.
    """
    path = f"{root.rstrip('/')}/{CATALOG_RECORD}"
    with storage_errors(f"cannot read {path}"):
        try:
            data = fs.cat_file(path)
        except FileNotFoundError:
            return CatalogChoice()
    try:
        doc = json.loads(data)
        return CatalogChoice(doc.get("catalog"), str(doc.get("namespace", DEFAULT_NAMESPACE)))
    except (ValueError, AttributeError, ConfigError) as exc:
        raise ViewsError(f"{path} is malformed: {exc}") from exc


def record_choice(fs: fsspec.AbstractFileSystem, root: str, choice: CatalogChoice) -> None:
    """Write ``choice`` as the lake's catalog (nothing is written for the default)."""
    path = f"{root.rstrip('/')}/{CATALOG_RECORD}"
    if choice == CatalogChoice():
        with storage_errors(f"cannot write {path}"):
            if fs.exists(path):
                fs.rm_file(path)
        return
    doc = {"catalog": choice.catalog, "namespace": choice.namespace}
    replace_file(fs, path, (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode())
