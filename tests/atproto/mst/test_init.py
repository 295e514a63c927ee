from __future__ import annotations

import types

import lairs_etl.atproto.mst as mst


def _isort_key(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_public_surface_is_explicit_and_sorted() -> None:
    assert mst.__all__ == sorted(mst.__all__, key=_isort_key)
    exported = {
        name
        for name, value in vars(mst).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert exported == set(mst.__all__)
