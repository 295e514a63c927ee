"""The bulk path (Arrow's C++ JSON reader) gives exactly the codec's values, or hands rows back."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.records import record_types, validate_record
from lairs_etl.views import RecordRow, records_table
from lairs_etl.views import table as table_module
from lairs_etl.views.bulk import bulk_plan
from lairs_etl.views.codec import dumps_json, path_keys
from lairs_etl.views.table import RESIDUAL_COLUMN, record_codec
from tests.records.strategies import LexiconTree, valid_records
from tests.views.test_roundtrip import _committable

_TREE = LexiconTree.load()
_LAYER = "pub.layers.annotation.annotationLayer"


@pytest.fixture(autouse=True)
def _bulk_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """``records_table`` takes the bulk path for these few rows too (it is what is tested)."""
    monkeypatch.setattr(table_module, "BULK_MIN_ROWS", 1)


def _codec_only(nsid: str, values: list[dict[str, Any]]) -> tuple[pa.Array, list[str | None]]:
    """The reference: every value through the per-value codec."""
    codec = record_codec(nsid)
    encoded, residuals = [], []
    for value in values:
        residual: list[Any] = []
        encoded.append(codec.encode(dict(value), (), residual))
        residuals.append(dumps_json([[path_keys(p), v] for p, v in residual]) if residual else None)
    return pa.array(encoded, type=codec.arrow), residuals


def _table(nsid: str, values: list[dict[str, Any]]) -> pa.Table:
    rows = [RecordRow("did:plc:abc", nsid, f"3k{i:011d}", "bafy", v) for i, v in enumerate(values)]
    return records_table(nsid, rows, "bafycommit")


def _assert_same_as_codec(nsid: str, values: list[dict[str, Any]]) -> None:
    struct, residuals = _codec_only(nsid, values)
    table = _table(nsid, values)
    typed = pa.StructArray.from_arrays(
        [table.column(name).combine_chunks() for name in record_codec(nsid).fields],
        fields=list(record_codec(nsid).arrow),
    )
    assert typed.to_pylist() == struct.to_pylist()
    assert table.column(RESIDUAL_COLUMN).to_pylist() == residuals


@pytest.mark.parametrize("nsid", record_types())
def test_every_type_has_a_bulk_plan(nsid: str) -> None:
    assert bulk_plan(record_codec(nsid)).supported


@pytest.mark.parametrize("nsid", record_types())
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_bulk_equals_the_codec_on_generated_records(nsid: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(valid_records(_TREE, nsid), min_size=1, max_size=6))
    values = [v for v in values if _committable(v)]
    _assert_same_as_codec(nsid, values)


def _layer(**patch: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "$type": _LAYER,
        "createdAt": "2025-03-04T05:06:07.089Z",
        "kind": "span",
        "expression": "at://did:plc:abc/pub.layers.expression.expression/3k",
        "annotations": [
            {
                "uuid": {"value": "u"},
                "label": "PER",
                "anchor": {"textSpan": {"byteStart": 0, "byteEnd": 5}},
            }
        ],
    }
    value.update(patch)
    return value


def _selector(selector: dict[str, Any]) -> dict[str, Any]:
    layer = _layer()
    layer["annotations"][0]["anchor"] = {
        "externalTarget": {"source": "https://e.org/x", "selector": selector}
    }
    return layer


_EDGES: dict[str, dict[str, Any]] = {
    "plain": _layer(),
    "undeclared top level": _layer(extra={"a": [1]}),
    "undeclared in a list item": _layer(annotations=[{"uuid": {"value": "u", "more": True}}]),
    "datetime with an offset": _layer(createdAt="2025-03-04T07:06:07+02:00"),
    "datetime without milliseconds": _layer(createdAt="2025-03-04T05:06:07Z"),
    "datetime with microseconds": _layer(createdAt="2025-03-04T05:06:07.123456Z"),
    "datetime with nanoseconds": _layer(createdAt="2025-03-04T05:06:07.123456789Z"),
    "explicit null": _layer(subkind=None),
    "known union member": _selector({"$type": "pub.layers.defs#textQuoteSelector", "exact": "Paris"}),
    "union member with lex: prefix": _selector(
        {"$type": "lex:pub.layers.defs#textQuoteSelector", "exact": "P"}
    ),
    "open union member": _selector({"$type": "com.example.selector#css", "query": "p"}),
    "stray property in a variant": _selector(
        {"$type": "pub.layers.defs#textQuoteSelector", "exact": "P", "start": 3}
    ),
}


def test_edge_values_one_by_one_and_together() -> None:
    for value in _EDGES.values():
        _assert_same_as_codec(_LAYER, [copy.deepcopy(value)])
    _assert_same_as_codec(_LAYER, [copy.deepcopy(v) for v in _EDGES.values()])


def test_plain_records_take_the_bulk_path_and_odd_ones_go_back() -> None:
    plan = bulk_plan(record_codec(_LAYER))
    values = [copy.deepcopy(v) for v in _EDGES.values()]
    _, exact = plan.encode(values)
    labels = list(_EDGES)
    assert [labels[i] for i in exact] == [
        "undeclared top level",
        "undeclared in a list item",
        "datetime with an offset",
        "datetime without milliseconds",
        "datetime with nanoseconds",
        "explicit null",
        "open union member",
        "stray property in a variant",
    ]


def test_a_batch_the_reader_refuses_goes_back_whole() -> None:
    values = [
        _layer(),
        _layer(annotations=[{"uuid": {"value": "u"}, "anchor": {"textSpan": {"byteStart": 1.5}}}]),
    ]
    _, exact = bulk_plan(record_codec(_LAYER)).encode(values)
    assert exact == [0, 1]
    _assert_same_as_codec(_LAYER, values)


def test_validity_does_not_matter_to_the_encoding() -> None:
    invalid = _layer(kind=7)
    assert not validate_record(invalid).valid
    _assert_same_as_codec(_LAYER, [_layer(), invalid])


def test_small_and_large_partitions_make_the_same_table(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [_layer(), _layer(kind="token"), _layer(annotations=[])] * 4
    bulk = _table(_LAYER, values)
    monkeypatch.setattr(table_module, "BULK_MIN_ROWS", len(values) + 1)  # the codec alone
    assert _table(_LAYER, values).equals(bulk)
