"""Test helpers: a lake as its readers see it."""

from __future__ import annotations

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
