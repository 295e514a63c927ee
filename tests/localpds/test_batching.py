"""Splitting applyWrites operations into calls the PDS accepts (pure, no server)."""

from __future__ import annotations

import json

import pytest

import lairs_etl.localpds as localpds
from lairs_etl.localpds import MAX_WRITES_PER_CALL, batch_writes

PDS_BODY_LIMIT = 1_000_000  # bytes of JSON the reference PDS accepts (413 past it)


def _write(text_bytes: int) -> dict[str, object]:
    value = {"t": "x" * text_bytes}
    return {"$type": "com.atproto.repo.applyWrites#create", "collection": "a.b.c", "value": value}


@pytest.mark.parametrize(
    ("count", "text_bytes", "expected_sizes"),
    [
        (0, 10, []),
        (1, 10, [1]),
        (200, 10, [200]),
        (201, 10, [200, 1]),
        (450, 10, [200, 200, 50]),
        (5, 300_000, [3, 2]),  # the body limit, not the count, cuts these
    ],
)
def test_batches_respect_count_and_body_limits(
    count: int, text_bytes: int, expected_sizes: list[int]
) -> None:
    writes = [_write(text_bytes) for _ in range(count)]
    batches = list(batch_writes(writes))
    assert [len(b) for b in batches] == expected_sizes
    assert [w for b in batches for w in b] == writes  # order kept, nothing lost
    for batch in batches:
        body = json.dumps({"repo": "did:plc:" + "a" * 24, "writes": batch})
        assert len(batch) <= MAX_WRITES_PER_CALL
        assert len(body.encode()) <= PDS_BODY_LIMIT


def test_an_oversized_write_is_sent_alone_for_the_pds_to_refuse() -> None:
    writes = [_write(10), _write(1_200_000), _write(10)]
    assert [len(b) for b in batch_writes(writes)] == [1, 1, 1]


def test_public_surface_is_sorted_and_importable() -> None:
    assert localpds.__all__ == sorted(localpds.__all__)
    assert all(hasattr(localpds, name) for name in localpds.__all__)
