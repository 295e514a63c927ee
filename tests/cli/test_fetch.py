"""``lairs-etl fetch`` against the real PDS: JSON Lines out, summary on stderr, typed failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lairs_etl.cli import main
from lairs_etl.localpds import Account, LocalPds

pytestmark = pytest.mark.pds

EXPRESSION = "pub.layers.expression.expression"
SEGMENTATION = "pub.layers.segmentation.segmentation"


@pytest.fixture
def account(pds_account: Callable[..., Account]) -> Account:
    acc = pds_account("cli")
    acc.bulk_create(EXPRESSION, [{"$type": EXPRESSION, "text": f"e{i}"} for i in range(3)])
    acc.bulk_create(SEGMENTATION, [{"$type": SEGMENTATION, "n": i} for i in range(2)])
    return acc


def _run(local_pds: LocalPds, *args: str) -> Result:
    env = {
        "LAIRS_PLC_URL": local_pds.plc_url,
        "LAIRS_HANDLE_SERVICE": local_pds.pds_url,
        "LAIRS_ALLOW_PRIVATE_HOSTS": "1",
    }
    return CliRunner().invoke(main, ["fetch", *args], env=env)


@pytest.mark.parametrize("mode", ["car", "tree", "records"])
def test_fetch_prints_verified_records_as_json_lines(
    local_pds: LocalPds, account: Account, mode: str
) -> None:
    result = _run(
        local_pds, account.did, "--collection", EXPRESSION, "--collection", SEGMENTATION, "--mode", mode
    )
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [r for c in (EXPRESSION, SEGMENTATION) for r in account.list_records(c)]
    assert sorted((x["uri"], x["cid"], json.dumps(x["value"])) for x in lines) == sorted(
        (x["uri"], x["cid"], json.dumps(x["value"])) for x in expected
    )
    assert f"mode={mode}" in result.stderr
    assert "records=5" in result.stderr
    assert ("authenticated=false" in result.stderr) is (mode == "records")


def test_fetch_defaults_to_the_layers_collections(local_pds: LocalPds, account: Account) -> None:
    account.create_record("app.bsky.feed.post", {"text": "hi", "createdAt": "2026-01-01T00:00:00Z"})
    result = _run(local_pds, str(account.handle), "--mode", "car")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_since_with_a_store_prints_only_changes(
    local_pds: LocalPds, account: Account, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = _run(local_pds, account.did, "--mode", "car", "--store", str(store))
    assert first.exit_code == 0, first.stderr
    rev = json.loads((store / "state.json").read_text())[account.did]
    (since,) = rev
    gone = account.list_records(SEGMENTATION)[0]
    account.delete_record(SEGMENTATION, gone["uri"].rsplit("/", 1)[1])
    added = account.create_record(EXPRESSION, {"$type": EXPRESSION, "text": "new"})
    second = _run(local_pds, account.did, "--since", since, "--store", str(store))
    assert second.exit_code == 0, second.stderr
    lines = [json.loads(line) for line in second.stdout.splitlines()]
    assert sorted((x["uri"], x.get("deleted", False)) for x in lines) == sorted(
        [(added.uri, False), (gone["uri"], True)]
    )


def test_failures_exit_non_zero_with_one_typed_line(local_pds: LocalPds) -> None:
    result = _run(local_pds, "did:plc:" + "z" * 24)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "Error" in line.split(":")[1]


def test_since_needs_a_store(local_pds: LocalPds, account: Account) -> None:
    result = _run(local_pds, account.did, "--since", "3kaaaaaaaaaa2")
    assert result.exit_code == 2
    assert "ConfigError" in result.stderr
