"""``lairs-etl validate``: verdict lines, exit statuses and unusable input, as a user sees them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lairs_etl.cli import main
from lairs_etl.cli.validate import _records

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "records.jsonl"
_LAYER_URI = "at://did:plc:7iza6de2dwap2sbkpav7c6c6/pub.layers.expression.expression/3lbq2kfsbtc2x"

CORPUS = {"$type": "pub.layers.corpus.corpus", "name": "Tide tables", "createdAt": "2026-01-05T08:00:00Z"}
LAYER = {
    "$type": "pub.layers.annotation.annotationLayer",
    "expression": _LAYER_URI,
    "kind": "span",
    "annotations": [{"uuid": {"value": "u-1"}, "label": "PER"}],
    "createdAt": "2026-01-05T08:01:00Z",
}
NO_CREATED_AT = {k: v for k, v in LAYER.items() if k != "createdAt"}
UNKNOWN_TYPE = {"$type": "pub.layers.corpus.shelf", "createdAt": "2026-01-05T08:02:00Z"}


def _run(args: list[str], stdin: str | None = None) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, ["validate", *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, verdicts, result.stderr


def _jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_json_lines_file_gets_one_verdict_per_record_in_order(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(_jsonl(CORPUS, NO_CREATED_AT, UNKNOWN_TYPE, LAYER), encoding="utf-8")

    code, verdicts, _ = _run([str(path)])

    assert code == 1
    assert [v["index"] for v in verdicts] == [0, 1, 2, 3]
    assert [v["type"] for v in verdicts] == [
        "pub.layers.corpus.corpus",
        "pub.layers.annotation.annotationLayer",
        "pub.layers.corpus.shelf",
        "pub.layers.annotation.annotationLayer",
    ]
    assert [v["valid"] for v in verdicts] == [True, False, False, True]
    assert verdicts[0]["errors"] == []
    assert verdicts[3]["errors"] == []
    assert {"path": "$.createdAt", "code": "required"} in [
        {"path": e["path"], "code": e["code"]} for e in verdicts[1]["errors"]
    ]
    assert [e["code"] for e in verdicts[2]["errors"]] == ["unknown_record_type"]
    assert all(e["message"] for v in verdicts for e in v["errors"])


def test_json_array_on_stdin_gives_the_same_verdicts_as_json_lines() -> None:
    records = [CORPUS, NO_CREATED_AT, LAYER]
    array = _run(["-"], stdin=json.dumps(records, indent=2))
    lines = _run([], stdin=_jsonl(*records))

    assert array == lines
    assert [v["valid"] for v in array[1]] == [True, False, True]


def test_all_valid_exits_zero() -> None:
    code, verdicts, _ = _run([], stdin=_jsonl(CORPUS, LAYER))
    assert code == 0
    assert [v["valid"] for v in verdicts] == [True, True]


def test_a_single_pretty_printed_record_is_one_verdict() -> None:
    code, verdicts, _ = _run([], stdin=json.dumps(LAYER, indent=2))
    assert code == 0
    assert len(verdicts) == 1
    assert verdicts[0]["valid"]


def test_errors_report_every_violation_with_its_path() -> None:
    broken = dict(LAYER, expression="https://example.org/x", kind="k" * 129, createdAt="2026-13-01T00:00:00Z")
    code, [verdict], _ = _run([], stdin=_jsonl(broken))
    assert code == 1
    paths = {e["path"] for e in verdict["errors"]}
    assert {"$.expression", "$.kind", "$.createdAt"} <= paths


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        ('{"$type": "pub.layers.corpus.corpus",', "not valid JSON"),
        ("[1, 2", "not valid JSON"),
        ("42", "number"),
        ('"a string"', "string"),
        ("null", "null"),
        ("[" + json.dumps(CORPUS) + ", 7]", "element 1"),
    ],
)
def test_unusable_input_exits_two_and_says_why(stdin: str, needle: str) -> None:
    code, verdicts, stderr = _run([], stdin=stdin)
    assert code == 2
    assert needle in stderr
    assert verdicts == []


def test_a_json_lines_line_that_is_not_an_object_is_named() -> None:
    stdin = _jsonl(CORPUS, LAYER) + "[1, 2]\n" + _jsonl(CORPUS)
    code, verdicts, stderr = _run([], stdin=stdin)
    assert code == 2
    assert "line 3" in stderr
    assert "array" in stderr
    # JSON Lines are streamed: the verdicts before the bad line were already written.
    assert [v["index"] for v in verdicts] == [0, 1]


def test_a_json_lines_line_that_is_not_json_is_named() -> None:
    code, _, stderr = _run([], stdin=_jsonl(CORPUS) + "\n{not json}\n")
    assert code == 2
    assert "line 3" in stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = _run([str(tmp_path / "absent.jsonl")])
    assert code == 2
    assert "absent.jsonl" in stderr


def test_json_lines_are_read_one_line_at_a_time() -> None:
    # Streaming: the first verdicts need only the first lines, however long the input.
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for i in range(1_000_000):
            consumed += 1
            yield json.dumps(dict(CORPUS, name=f"corpus {i}")) + "\n"

    records = _records(lines())  # type: ignore[arg-type]  # any iterable of lines will do
    assert [next(records)["name"], next(records)["name"]] == ["corpus 0", "corpus 1"]
    assert consumed == 2


def test_installed_script_validates_the_shipped_example() -> None:
    script = shutil.which("lairs-etl", path=str(Path(sys.executable).parent))
    assert script is not None, "the lairs-etl console script is not installed in this environment"
    proc = subprocess.run([script, "validate", str(_EXAMPLES)], capture_output=True, text=True, check=False)
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = [
        json.loads(line) for line in _EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()
    ]

    assert proc.returncode == 1, proc.stderr
    assert len(verdicts) == len(expected)
    assert [v["type"] for v in verdicts] == [r["$type"] for r in expected]
    assert any(v["valid"] for v in verdicts)
    assert not all(v["valid"] for v in verdicts)
    unknown = next(v for v in verdicts if v["type"] == "pub.layers.corpus.shelf")
    assert [e["code"] for e in unknown["errors"]] == ["unknown_record_type"]


def test_input_that_is_not_utf8_exits_two() -> None:
    result = CliRunner().invoke(main, ["validate"], input=b'{"name": "caf\xe9"}\n')
    assert result.exit_code == 2
    assert "UTF-8" in result.stderr


def test_odd_strings_round_trip_into_the_verdict_line() -> None:
    # A lone surrogate (legal in JSON text, not in UTF-8) must not crash the writer.
    stdin = '{"$type": "pub.layers.corpus.\\ud800", "name": "x"}\n'
    code, [verdict], _ = _run([], stdin=stdin)
    assert code == 1
    assert verdict["type"] == "pub.layers.corpus.\ud800"
    assert verdict["valid"] is False


def test_line_numbers_count_leading_blank_lines() -> None:
    code, _, stderr = _run([], stdin="\n\n" + _jsonl(CORPUS) + "7\n")
    assert code == 2
    assert "line 4" in stderr


@pytest.mark.parametrize("stdin", ["", "\n  \n"])
def test_empty_input_is_unusable(stdin: str) -> None:
    code, verdicts, stderr = _run([], stdin=stdin)
    assert (code, verdicts) == (2, [])
    assert "no records" in stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"$type": "pub.layers.corpus.corpus", "x": ' + "[" * 10_000 + "]" * 10_000 + "}\n", "deep"),
        ("[" * 10_000 + "]" * 10_000, "deep"),
        ('{"$type": "pub.layers.corpus.corpus", "n": ' + "9" * 5000 + "}\n", "4300 digits"),
        ('[{"$type": "pub.layers.corpus.corpus", "n": ' + "9" * 5000 + "}]", "4300 digits"),
    ],
    ids=["deep-line", "deep-array", "huge-integer-line", "huge-integer-array"],
)
def test_hostile_files_are_unusable_input_not_a_traceback(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8")
    code, verdicts, stderr = _run([str(path)])  # _run re-raises anything but an exit
    assert (code, verdicts) == (2, [])
    assert stderr.startswith("error: CodecError: unusable input")
    assert needle in stderr


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("NaN", "$.extra"),
        ("Infinity", "$.extra"),
        ("-Infinity", "$.extra[0]"),
        ('"\\ud800 unpaired"', "$.name"),
        ("18446744073709551616", "$.extra"),
    ],
)
def test_values_dag_cbor_cannot_hold_make_the_record_invalid(value: str, path: str) -> None:
    field = "name" if path == "$.name" else "extra"
    body = f"[{value}]" if path.endswith("[0]") else value
    record = '{"$type": "pub.layers.corpus.corpus", "createdAt": "2026-01-05T08:00:00Z", "name": "ok"'
    if field == "name":
        line = record.replace('"name": "ok"', f'"{field}": {body}')
    else:
        line = f'{record}, "{field}": {body}'
    code, [bad, good], _ = _run([], stdin=line + "}\n" + _jsonl(CORPUS))
    assert code == 1
    assert good["valid"] is True  # one bad record never sinks the others
    assert bad["valid"] is False
    found = [{"path": e["path"], "code": e["code"]} for e in bad["errors"]]
    assert {"path": path, "code": "data_model"} in found
