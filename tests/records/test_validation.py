"""Validation verdicts and diagnostics, over the whole Lexicon type system.

The synthetic lexicon in ``tests/fixtures/lexicons.py`` exercises every type; the
expected verdicts follow ``@atproto/lexicon``'s ``assertValidRecord`` (on
``jsonToLex(record)``), including its quirks, which are named where they matter.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lairs_etl.errors import RecordValidationError
from lairs_etl.records import (
    Diagnostic,
    LexRecord,
    ValidationResult,
    parse_record,
    validate_record,
    validate_records,
)
from lairs_etl.records.diagnostic import diagnostics_from_error
from tests.fixtures.lexicons import FORMAT_SAMPLES, SYNTHETIC_NSID

CID = FORMAT_SAMPLES["cid"]
BASE: dict[str, Any] = {"$type": SYNTHETIC_NSID, "items": [1], "mustMaybe": None, "point": {"x": 1}}


def _check(model: type[LexRecord], **changes: Any) -> tuple[Diagnostic, ...]:
    record = {**BASE, **changes}
    try:
        instance = model.model_validate(record)
    except ValidationError as exc:
        return diagnostics_from_error(exc)
    assert instance.to_json() == record  # every valid record round-trips exactly
    return ()


def _codes(model: type[LexRecord], **changes: Any) -> list[str]:
    return [d.code for d in _check(model, **changes)]


def _remove(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


# -- strings: lengths are UTF-8 bytes, graphemes are grapheme clusters -----------------------


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("ab", []),
        ("abcdef", []),
        ("a", ["min_length"]),
        ("abcdefg", ["max_length"]),
        ("éé", []),  # 4 bytes, 2 characters
        ("ééé", []),  # 6 bytes
        ("éééé", ["max_length"]),  # 4 characters but 8 bytes
        ("é", []),  # 1 character but 2 bytes: long enough
        ("😀", []),  # 4 bytes
        ("😀😀", ["max_length"]),  # 8 bytes
    ],
)
def test_string_length_counts_utf8_bytes(
    synthetic_model: type[LexRecord], value: str, codes: list[str]
) -> None:
    assert _codes(synthetic_model, bytesLimited=value) == codes


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("abc", []),
        ("", ["min_graphemes"]),
        ("abcd", ["max_graphemes"]),
        ("e\u0301e\u0301e\u0301", []),  # 6 code points, 3 graphemes
        ("👩‍👩‍👧‍👦👍🏽🇫🇷", []),  # family ZWJ sequence, skin tone, flag: 3 graphemes
        ("👩‍👩‍👧‍👦👍🏽🇫🇷a", ["max_graphemes"]),
    ],
)
def test_graphemes_count_clusters(synthetic_model: type[LexRecord], value: str, codes: list[str]) -> None:
    assert _codes(synthetic_model, graphemes=value) == codes


def test_string_from_a_string_def_ref_is_inlined(synthetic_model: type[LexRecord]) -> None:
    assert _codes(synthetic_model, slug="abcde") == []
    assert _codes(synthetic_model, slug="abcdef") == ["max_length"]


# -- string formats ---------------------------------------------------------------------------

FORMAT_CASES: dict[str, tuple[list[str], list[str]]] = {
    "at-uri": (
        [
            FORMAT_SAMPLES["at-uri"],
            "at://alice.example.com",
            "at://did:plc:abc/pub.layers.expression.expression",
            "at://did:plc:abc/pub.layers.x.y/self#/path/%C3%A9",  # fragment: a JSON pointer
            "at://did:plc:abc/pub.layers.x.y/.a",
        ],
        [
            "https://example.com",
            "at://did:plc:abc/",  # trailing slash
            "at://did:plc:abc?query=1",
            "at://did:plc:abc/pub.layers.x.y/a/b",  # three path segments
            "at://did:plc:abc/notansid",
            "at://did:plc:abc/pub.layers.x.y/..",
            "at://did:plc:abc/pub.layers.x.y/k#/%E9",  # not UTF-8 once decoded
            "at://did:plc:abc/pub.layers.x.y/k#nopointer",
            "at://did:plc:abc/pub.layers.x.y/é",
            "at://did:plc:abc\n",
        ],
    ),
    "at-identifier": (["alice.example.com", "did:web:example.com"], ["", "alice", "did:plc:", "did:PLC:x"]),
    "cid": (
        [
            CID,
            "bafkreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
            "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
        ],
        [
            "",
            CID[:-1],
            CID + "a",
            CID.upper(),
            "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2b",
            "hello",
        ],
    ),
    "datetime": (
        [
            "2024-05-01T12:30:00Z",
            "2024-05-01T12:30:00.123456+05:30",
            "2024-02-30T00:00:00Z",  # JavaScript's Date rolls the day over
            "2024-05-01T12:30:00",  # no time zone: the lenient ISO check accepts it
            "2024-05-01T12:30:60Z",  # and a leap second
        ],
        [
            "2024-05-01",
            "2024-05-01T25:00:00Z",
            "2024-13-01T00:00:00Z",
            "0000-01-01T00:00:00+23:59",  # normalizes to a negative year
            "9999-12-31T23:59:59-23:59",  # normalizes to year 10000
            "2024-05-01T12:30:00Z\n",
            "yesterday",
        ],
    ),
    "did": (
        ["did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com", "did:x:a%20b"],
        ["did:plc:", "did:PLC:x", "plc:x", "did:plc:a\n"],
    ),
    "handle": (
        ["alice.example.com", "a.co", "xn--ls8h.example"],
        ["alice", "-a.com", "a.1com", "a..com", "a" * 64 + ".com"],
    ),
    "language": (
        ["en", "en-US", "zh-Hant-TW", "i-klingon", "x-private"],
        ["", "e", "en_US", "toolonglanguage"],
    ),
    "nsid": (
        ["pub.layers.expression.expression", "com.example.fooBar"],
        ["a.b", "pub.layers.1x", "pub.layers.x-y", "pub..x"],
    ),
    "record-key": (["self", "3jzfcijpj2z2a", "a:b~c_d-e.f"], ["", ".", "..", "a/b", "a b", "x" * 513]),
    "tid": (["3jzfcijpj2z2a"], ["3jzfcijpj2z2", "3JZFCIJPJ2Z2A", "kjzfcijpj2z2a"]),
    "uri": (
        ["https://example.com/a?b#c", "mailto:alice@example.com", "did:plc:abc"],
        ["", "example.com", "https://", "a: b", "é:x"],
    ),
}
_FIELDS = {
    "at-uri": "atUri",
    "at-identifier": "atIdentifier",
    "record-key": "recordKey",
}


@pytest.mark.parametrize(
    ("fmt", "value", "valid"),
    [(fmt, value, True) for fmt, (good, _) in FORMAT_CASES.items() for value in good]
    + [(fmt, value, False) for fmt, (_, bad) in FORMAT_CASES.items() for value in bad],
)
def test_string_formats(synthetic_model: type[LexRecord], fmt: str, value: str, valid: bool) -> None:
    field = _FIELDS.get(fmt, fmt)
    assert _codes(synthetic_model, **{field: value}) == ([] if valid else [f"format.{fmt}"])


def test_every_lexicon_format_is_covered() -> None:
    from lairs_etl.records.formats import FORMAT_CHECKS

    assert set(FORMAT_CASES) == set(FORMAT_CHECKS) == set(FORMAT_SAMPLES)


# -- integers, booleans, const, enum, knownValues ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"count": 1}, []),
        ({"count": 10}, []),
        ({"count": 0}, ["minimum"]),
        ({"count": 11}, ["maximum"]),
        ({"count": "5"}, ["type"]),  # no coercion
        ({"count": 5.0}, []),  # an integral JSON number is that integer, as in the reference
        ({"count": 1e1}, []),
        ({"count": 5.5}, ["type"]),
        ({"count": 11.0}, ["maximum"]),
        ({"count": True}, ["type"]),
        ({"count": None}, ["type"]),  # optional is not nullable
        ({"level": 2}, []),
        ({"level": 4}, ["enum"]),
        ({"level": True}, ["type"]),
        ({"fixedInt": 7}, []),
        ({"fixedInt": 8}, ["const"]),
        ({"flag": False}, []),
        ({"flag": 0}, ["type"]),
        ({"fixedFlag": True}, []),
        ({"fixedFlag": False}, ["const"]),
        ({"fixedFlag": 1}, ["type"]),
        ({"kind": "alpha"}, []),
        ({"kind": "anything-else"}, []),  # knownValues are an open set
        ({"mode": "on"}, []),
        ({"mode": "maybe"}, ["enum"]),  # enum is closed
        ({"fixedStr": "x"}, []),
        ({"fixedStr": "y"}, ["enum"]),
    ],
)
def test_scalar_constraints(
    synthetic_model: type[LexRecord], changes: dict[str, Any], codes: list[str]
) -> None:
    assert _codes(synthetic_model, **changes) == codes


def test_defaults_are_not_written_into_the_record(synthetic_model: type[LexRecord]) -> None:
    instance = synthetic_model.model_validate(BASE)
    assert (instance.count, instance.flag) == (5, True)  # type: ignore[attr-defined]
    assert "count" not in instance.to_json()


# -- required and nullable --------------------------------------------------------------------


def test_required_and_nullable(synthetic_model: type[LexRecord]) -> None:
    assert _check(synthetic_model) == ()
    assert [(d.path, d.code) for d in _check_record(synthetic_model, _remove(BASE, "mustMaybe"))] == [
        ("$.mustMaybe", "required")
    ]
    assert _codes(synthetic_model, maybe=None) == []  # nullable and optional
    assert _codes(synthetic_model, maybe="x", mustMaybe="y") == []
    assert _codes(synthetic_model, point=None) == ["type"]  # required, not nullable
    missing = _check_record(synthetic_model, _remove(_remove(BASE, "items"), "point"))
    assert sorted(d.path for d in missing) == ["$.items", "$.point"]


def _check_record(model: type[LexRecord], record: dict[str, Any]) -> tuple[Diagnostic, ...]:
    try:
        model.model_validate(record)
    except ValidationError as exc:
        return diagnostics_from_error(exc)
    return ()


# -- arrays, refs, objects ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"items": [1, 2, 3]}, []),
        ({"items": []}, ["min_length"]),
        ({"items": [1, 2, 3, 4]}, ["max_length"]),
        ({"items": [1, "2"]}, ["type"]),
        ({"items": {"0": 1}}, ["type"]),
        ({"point": {"x": 1, "y": 2, "z": "extra fields are kept"}}, []),
        ({"point": {"x": 1, "$type": "anything: a ref does not check $type"}}, []),
        ({"point": {"y": 2}}, ["required"]),
        ({"point": []}, ["type"]),  # arrays pass only where no property is required
        ({"loose": {}}, []),
        ({"loose": []}, []),  # reference quirk: typeof [] === "object", no property required
        ({"loose": "text"}, ["type"]),
        ({"points": [{"x": 1}, {"x": "2"}]}, ["type"]),
    ],
)
def test_arrays_refs_and_objects(
    synthetic_model: type[LexRecord], changes: dict[str, Any], codes: list[str]
) -> None:
    assert _codes(synthetic_model, **changes) == codes


def test_diagnostic_paths_are_json_paths(synthetic_model: type[LexRecord]) -> None:
    found = _check(
        synthetic_model,
        points=[{"x": 1}, {"x": 1}, {"y": 1}],
        openChoice={"$type": "pub.layers.testkit.defs#label"},
    )
    assert [(d.path, d.code) for d in found] == [
        ("$.openChoice.text", "required"),
        ("$.points[2].x", "required"),
    ]


# -- unions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ({"$type": "pub.layers.testkit.everything#point", "x": 1}, []),
        ({"$type": "lex:pub.layers.testkit.everything#point", "x": 1}, []),
        ({"$type": "pub.layers.testkit.defs#label", "text": "hi"}, []),
        ({"$type": "pub.layers.testkit.defs#label"}, ["required"]),
        ({"$type": "com.example.other#thing", "anything": [1]}, []),  # open: unknown variant kept as data
        ({"x": 1}, ["union.missing_type"]),
        ({"$type": 5, "x": 1}, ["union.missing_type"]),
        ("text", ["union.missing_type"]),
    ],
)
def test_open_union(synthetic_model: type[LexRecord], value: Any, codes: list[str]) -> None:
    assert _codes(synthetic_model, openChoice=value) == codes


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ({"$type": "pub.layers.testkit.everything#point", "x": 1}, []),
        ({"$type": "pub.layers.testkit.everything#point", "x": "1"}, ["type"]),
        ({"$type": "pub.layers.testkit.defs#label", "text": "hi"}, ["union.unknown_type"]),
        ({"$type": "com.example.other#thing"}, ["union.unknown_type"]),
    ],
)
def test_closed_union(synthetic_model: type[LexRecord], value: Any, codes: list[str]) -> None:
    assert _codes(synthetic_model, closedChoice=value) == codes


def test_union_variants_are_typed_models(synthetic_model: type[LexRecord]) -> None:
    instance = synthetic_model.model_validate(
        {**BASE, "openChoice": {"$type": "pub.layers.testkit.defs#label", "text": "hi"}}
    )
    choice = instance.openChoice  # type: ignore[attr-defined]
    assert type(choice).__name__ == "Label"
    assert choice.text == "hi"
    unknown = synthetic_model.model_validate({**BASE, "openChoice": {"$type": "x.y.z#w", "k": 1}})
    assert unknown.openChoice == {"$type": "x.y.z#w", "k": 1}  # type: ignore[attr-defined]


# -- blob, cid-link, bytes, unknown --------------------------------------------------------------

TYPED_BLOB = {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 12}


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        (TYPED_BLOB, []),
        (
            {**TYPED_BLOB, "mimeType": "text/plain", "size": 10**9},
            [],
        ),  # accept/maxSize are not the record's concern
        ({"cid": CID, "mimeType": "image/png"}, []),  # legacy blob ref
        ({"cid": "nope", "mimeType": "image/png"}, ["blob"]),
        ({**TYPED_BLOB, "extra": 1}, ["blob"]),
        ({**TYPED_BLOB, "ref": CID}, ["blob"]),
        ({**TYPED_BLOB, "ref": {"$link": "nope"}}, ["blob"]),
        ({**TYPED_BLOB, "size": "12"}, ["blob"]),
        (_remove(TYPED_BLOB, "size"), ["blob"]),
        ("blob", ["blob"]),
    ],
)
def test_blob(synthetic_model: type[LexRecord], value: Any, codes: list[str]) -> None:
    assert _codes(synthetic_model, image=value) == codes


def test_blob_constraints_are_exposed_for_callers(synthetic_model: type[LexRecord]) -> None:
    from lairs_etl.records.lextypes import Blob

    markers = [m for m in synthetic_model.model_fields["image"].metadata if isinstance(m, Blob)]
    assert markers == [Blob(accept=("image/png",), max_size=1000)]


@pytest.mark.parametrize(
    ("field", "value", "codes"),
    [
        ("link", {"$link": CID}, []),
        ("link", {"$link": CID, "x": 1}, ["cid_link"]),
        ("link", {"$link": "nope"}, ["cid_link"]),
        ("link", CID, ["cid_link"]),
        ("raw", {"$bytes": "AAAA"}, []),  # 3 bytes
        ("raw", {"$bytes": "AAAAAA=="}, []),  # 4 bytes
        ("raw", {"$bytes": "AAAAAAA="}, ["max_length"]),  # 5 bytes
        ("raw", {"$bytes": ""}, ["min_length"]),
        ("raw", {"$bytes": "A"}, ["bytes"]),
        ("raw", {"$bytes": "AA!A"}, ["bytes"]),
        ("raw", "AAAA", ["bytes"]),
        ("extra", {"anything": [1, {"$link": "not checked"}]}, []),
        ("extra", [1, 2], []),  # reference quirk: arrays are objects
        ("extra", "text", ["unknown"]),
        ("extra", None, ["unknown"]),
    ],
)
def test_ipld_and_unknown(synthetic_model: type[LexRecord], field: str, value: Any, codes: list[str]) -> None:
    assert _codes(synthetic_model, **{field: value}) == codes


# -- keyword-named fields and $type --------------------------------------------------------------


def test_aliased_fields_validate_and_round_trip_under_lexicon_names(synthetic_model: type[LexRecord]) -> None:
    record = {**BASE, "from": "a", "json": "b", "_hidden": "c", "model_config": "d"}
    instance = synthetic_model.model_validate(record)
    assert (instance.from_, instance.json_, instance.hidden_, instance.model_config_) == ("a", "b", "c", "d")  # type: ignore[attr-defined]
    assert instance.to_json() == record
    assert _codes(synthetic_model, **{"from": 1}) == ["type"]


@pytest.mark.parametrize(
    ("kind", "codes"),
    [(SYNTHETIC_NSID, []), (f"lex:{SYNTHETIC_NSID}", []), (f"{SYNTHETIC_NSID}#main", ["enum"])],
)
def test_record_type_field(synthetic_model: type[LexRecord], kind: str, codes: list[str]) -> None:
    assert _codes(synthetic_model, **{"$type": kind}) == codes


# -- the validation API on the real record types ------------------------------------------------


def test_validate_record_reports_every_violation(minimal_records: dict[str, dict[str, Any]]) -> None:
    record = dict(minimal_records["pub.layers.annotation.annotationLayer"])
    record.update(createdAt="not a date", expression="https://example.com", kind=7)
    result = validate_record(record)
    assert isinstance(result, ValidationResult)
    assert (result.nsid, result.valid, result.model) == ("pub.layers.annotation.annotationLayer", False, None)
    assert {(d.path, d.code) for d in result.diagnostics} == {
        ("$.createdAt", "format.datetime"),
        ("$.expression", "format.at-uri"),
        ("$.kind", "type"),
    }


def test_validate_record_returns_the_model(minimal_records: dict[str, dict[str, Any]]) -> None:
    record = minimal_records["pub.layers.expression.expression"]
    result = validate_record(record, nsid="pub.layers.expression.expression")
    assert result.valid
    assert result.diagnostics == ()
    assert result.model is not None
    assert result.model.to_json() == record


@pytest.mark.parametrize(
    ("record", "nsid", "code"),
    [
        ({"$type": "com.example.nothing"}, None, "unknown_record_type"),
        ({"text": "no type"}, None, "record_type"),
        ({"$type": 5}, None, "record_type"),
        (
            {"$type": "pub.layers.expression.expression"},
            "pub.layers.annotation.annotationLayer",
            "record_type",
        ),
    ],
)
def test_record_type_problems_are_results(record: dict[str, Any], nsid: str | None, code: str) -> None:
    result = validate_record(record, nsid=nsid)
    assert not result.valid
    assert [(d.path, d.code) for d in result.diagnostics] == [("$.$type", code)]


def test_non_object_record_is_invalid() -> None:
    result = validate_record(["not", "a", "record"])  # type: ignore[arg-type]
    assert [(d.path, d.code) for d in result.diagnostics] == [("$", "type")]


def test_validate_records_keeps_going(minimal_records: dict[str, dict[str, Any]]) -> None:
    good = minimal_records["pub.layers.expression.expression"]
    results = validate_records([good, {"$type": "x.y.z"}, {**good, "text": 5}, good])
    assert [r.valid for r in results] == [True, False, False, True]


def test_parse_record_raises_with_diagnostics(minimal_records: dict[str, dict[str, Any]]) -> None:
    good = minimal_records["pub.layers.expression.expression"]
    assert parse_record(good).to_json() == good
    with pytest.raises(RecordValidationError) as caught:
        parse_record({**good, "text": 5}, uri="at://did:plc:abc/pub.layers.expression.expression/self")
    assert caught.value.uri == "at://did:plc:abc/pub.layers.expression.expression/self"
    assert [(d.path, d.code) for d in caught.value.diagnostics] == [("$.text", "type")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), "$"),
        (("a", 0, "b"), "$.a[0].b"),
        (("$type",), "$.$type"),
        (("a b", 'q"'), '$["a b"]["q\\""]'),
        (("items", "lex:pub.layers.x#y", "z"), "$.items.z"),  # union tags are not data
    ],
)
def test_json_path(loc: tuple[int | str, ...], path: str) -> None:
    from lairs_etl.records.diagnostic import json_path

    assert json_path(loc) == path
