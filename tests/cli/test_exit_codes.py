"""The one map from errors to exit codes, and that every command goes through it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from lairs_etl import errors
from lairs_etl.cli import main
from lairs_etl.cli._exit import EXIT_DAMAGED, EXIT_FAILED, EXIT_UNVERIFIED, EXIT_USAGE, exit_code

_EXPECTED = {
    "ConfigError": EXIT_USAGE,
    "InvalidIdentifier": EXIT_USAGE,
    "CodecError": EXIT_USAGE,
    "LexiconError": EXIT_USAGE,
    "LexiconPinMismatch": EXIT_USAGE,
    "VerificationError": EXIT_UNVERIFIED,
    "BlockHashMismatch": EXIT_UNVERIFIED,
    "SignatureError": EXIT_UNVERIFIED,
    "MstStructureError": EXIT_UNVERIFIED,
    "CarFormatError": EXIT_UNVERIFIED,
    "RecordCidMismatch": EXIT_UNVERIFIED,
    "FrameError": EXIT_UNVERIFIED,
    "CommitProofError": EXIT_UNVERIFIED,
    "ChainBreakError": EXIT_UNVERIFIED,
    "RepositoryCorruptError": EXIT_DAMAGED,
}


def _instance(cls: type[errors.LairsError]) -> errors.LairsError:
    required = {
        name: "x"
        if name in ("kind", "value", "ref", "expected", "actual", "url", "limit", "cause_type")
        else 0
        for name, param in inspect.signature(cls).parameters.items()
        if param.kind is param.KEYWORD_ONLY and param.default is param.empty
    }
    if "error" in required:
        required["error"] = None
    return cls("boom", **required)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(n for n in errors.__all__ if n[0].isupper()))
def test_every_error_has_the_documented_status(name: str) -> None:
    cls = getattr(errors, name)
    assert exit_code(_instance(cls)) == _EXPECTED.get(name, EXIT_FAILED)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_a_usage_error_from_any_command_exits_two_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["repo", "log", "--repo", str(tmp_path), "--storage-options", "[" * 5000],
        ["sql", "SELECT 1", "--db", str(tmp_path / "w.duckdb"), "--storage-options", "7"],
        ["pull", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--repo", str(tmp_path / "r"), "--limit", "nope=1"],
        ["fetch", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--limit", "request_seconds=-1"],
        ["resolve", "not a handle!"],
    ):
        code, stderr = _invoke(*args)
        assert code == EXIT_USAGE, (args, stderr)
        assert stderr.startswith("error: "), (args, stderr)
        assert stderr.count("\n") == 1, (args, stderr)


def test_a_missing_repository_fails_with_one(tmp_path: Path) -> None:
    code, stderr = _invoke("repo", "log", "--repo", str(tmp_path / "none"))
    assert (code, stderr.split(":")[1].strip()) == (EXIT_FAILED, "NotFoundError")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"did:plc:x": {"3kaaa": 7}}', b"\xff\xfe"])
def test_a_corrupt_fetch_store_state_is_a_typed_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "store" / "state.json"
    state.parent.mkdir()
    state.write_bytes(content)
    code, stderr = _invoke("fetch", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "--store", str(state.parent))
    assert code == EXIT_USAGE, stderr
    assert stderr.startswith("error: ConfigError: ")
    assert str(state) in stderr
    assert state.read_bytes() == content  # left for the user to inspect
