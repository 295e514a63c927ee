"""Test helpers: a lake as its readers see it."""

from __future__ import annotations

import json
from collections.abc import Mapping

import fsspec

from lairs_etl.views import read_manifest
from lairs_etl.views.layout import ACTORS_DIR, MANIFEST_NAME, partition_path


def lake_files(lake: str, storage_options: Mapping[str, object] | None = None) -> dict[str, bytes]:
    """Manifest, actor states and each partition's current file, by path under the lake.

    Superseded partition files (kept for older snapshots until ``lake expire``) and the
    Iceberg metadata are left out: they are not what the lake holds now.
    """
    fs, root = fsspec.core.url_to_fs(lake, **dict(storage_options or {}))
    root = str(root).rstrip("/")
    manifest = read_manifest(lake, storage_options)
    if manifest is None:
        return {}
    paths = [f"{root}/{MANIFEST_NAME}", *(str(p) for p in fs.glob(f"{root}/{ACTORS_DIR}/*.json"))]
    for entry in manifest.tables:
        paths.extend(
            partition_path(root, entry.key, entry.version, did, name) for did, name in entry.files.items()
        )
    return {p[len(root) :]: fs.cat_file(p) for p in sorted(paths)}


def canonical_rows(rows: list[dict[str, object]], *, empty_lists_as_null: bool = False) -> list[str]:
    """Rows as sorted canonical JSON, to compare what two engines read regardless of order.

    ``empty_lists_as_null``: an engine that reads an empty list as null compares equal.
    """

    def norm(value: object) -> object:
        if isinstance(value, list):
            return None if empty_lists_as_null and not value else [norm(v) for v in value]
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return value

    return sorted(json.dumps(norm(r), default=str, sort_keys=True) for r in rows)
