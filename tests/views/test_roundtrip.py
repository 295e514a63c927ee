"""Records → typed Arrow table → Parquet → records gives back the committed values exactly."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.errors import CodecError
from lairs_etl.records import record_types, validate_record
from lairs_etl.views import RecordRow, records_table, table_values
from lairs_etl.views.codec import model_codec, path_keys
from lairs_etl.views.table import RESIDUAL_COLUMN
from tests.records.strategies import LexiconTree, valid_records

_TREE = LexiconTree.load()


def _committable(record: dict[str, Any]) -> bool:
    """What a repository can hold: the value encodes as DAG-CBOR (no lone surrogates...)."""
    try:
        cbor.encode_json_form(record)
    except (CodecError, ValueError, TypeError, UnicodeEncodeError):
        return False
    return True


def _through_parquet(nsid: str, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [RecordRow("did:plc:abc", nsid, f"3k{i:011d}", "bafyfake", v) for i, v in enumerate(values)]
    sink = io.BytesIO()
    pq.write_table(records_table(nsid, rows, "bafycommit"), sink)
    return table_values(nsid, pq.read_table(io.BytesIO(sink.getvalue())))


@pytest.mark.parametrize("nsid", record_types())
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_every_record_type_round_trips_through_parquet(nsid: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(valid_records(_TREE, nsid), min_size=1, max_size=3))
    values = [v for v in values if _committable(v) and validate_record(v).valid]
    assert _through_parquet(nsid, values) == values


def test_typed_columns_hold_typed_values() -> None:
    nsid = "pub.layers.annotation.annotationLayer"
    value: dict[str, Any] = {
        "$type": nsid,
        "createdAt": "2025-03-04T05:06:07.089Z",
        "kind": "span",
        "expression": "at://did:plc:abc/pub.layers.expression.expression/3k",
        "annotations": [{"uuid": {"value": "u"}, "anchor": {"textSpan": {"byteStart": 1, "byteEnd": 4}}}],
    }
    table = records_table(nsid, [RecordRow("did:plc:abc", nsid, "3k", "bafy", value)], "bafycommit")
    assert table.schema.field("createdAt").type == pa.timestamp("us", tz="UTC")
    annotations = table.column("annotations").to_pylist()[0]
    assert annotations[0]["anchor"]["textSpan"] == {
        "byteStart": 1,
        "byteEnd": 4,
        "charStart": None,
        "charEnd": None,
    }
    assert table.column(RESIDUAL_COLUMN).to_pylist() == [None]  # everything fitted
    assert table.column("uri").to_pylist() == [f"at://did:plc:abc/{nsid}/3k"]


@pytest.mark.parametrize(
    ("label", "patch"),
    [
        (
            "undeclared nested property",
            {"annotations": [{"uuid": {"value": "u", "extra": [1, {"a": None}]}}]},
        ),
        ("array where an object is tolerated", {"annotations": [{"uuid": {"value": "u"}, "anchor": []}]}),
        ("datetime with an offset", {"createdAt": "2025-03-04T07:06:07+02:00"}),
        ("datetime with nanoseconds", {"createdAt": "2025-03-04T05:06:07.123456789Z"}),
        ("undeclared top-level property", {"$unknownField": {"deep": ["x"]}}),
    ],
)
def test_values_that_do_not_fit_come_back_exactly(label: str, patch: dict[str, Any]) -> None:
    nsid = "pub.layers.annotation.annotationLayer"
    value: dict[str, Any] = {
        "$type": nsid,
        "createdAt": "2025-03-04T05:06:07.089Z",
        "kind": "span",
        "expression": "at://did:plc:abc/pub.layers.expression.expression/3k",
        "annotations": [],
        **patch,
    }
    assert validate_record(value).valid, label
    assert _through_parquet(nsid, [value]) == [value]


_LAYER = "pub.layers.annotation.annotationLayer"


def _layer_with_selector(selector: dict[str, str]) -> dict[str, Any]:
    """An annotation layer with one annotation anchored on an external target's ``selector``."""
    return {
        "$type": _LAYER,
        "createdAt": "2025-03-04T05:06:07.089Z",
        "kind": "span",
        "expression": "at://did:plc:abc/pub.layers.expression.expression/3k",
        "annotations": [
            {
                "uuid": {"value": "u"},
                "anchor": {"externalTarget": {"source": "https://e.org/x", "selector": selector}},
            }
        ],
    }


def test_open_union_member_is_kept_as_json_next_to_its_type() -> None:
    nsid = _LAYER
    selector = {"$type": "com.example.selector#css", "query": "p > span"}
    value = _layer_with_selector(selector)
    assert validate_record(value).valid
    table = records_table(nsid, [RecordRow("did:plc:abc", nsid, "3k", "bafy", value)], "c")
    stored = table.column("annotations").to_pylist()[0][0]["anchor"]["externalTarget"]["selector"]
    assert stored["$type"] == "com.example.selector#css"
    assert stored["_unknown"] is not None
    assert stored["textQuoteSelector"] is None
    assert _through_parquet(nsid, [value]) == [value]


def test_known_union_member_is_a_typed_variant() -> None:
    nsid = _LAYER
    selector = {"$type": "pub.layers.defs#textQuoteSelector", "exact": "Paris", "prefix": "visits "}
    value = _layer_with_selector(selector)
    table = records_table(nsid, [RecordRow("did:plc:abc", nsid, "3k", "bafy", value)], "c")
    stored = table.column("annotations").to_pylist()[0][0]["anchor"]["externalTarget"]["selector"]
    assert stored["textQuoteSelector"] == {"exact": "Paris", "prefix": "visits ", "suffix": None}
    assert stored["_unknown"] is None
    assert _through_parquet(nsid, [value]) == [value]


def test_ipld_types_unknown_and_nulls_round_trip(synthetic_model: Any) -> None:
    codec = model_codec(synthetic_model)
    assert codec.fields["link"].arrow == pa.string()
    assert codec.fields["raw"].arrow == pa.binary()
    assert codec.fields["extra"].arrow == pa.string()  # unknown: JSON text
    value = {
        "$type": "pub.layers.testkit.everything",
        "items": [1, 2],
        "mustMaybe": None,
        "point": {"x": 1},
        "raw": {"$bytes": "AQID"},
        "link": {"$link": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},
        "extra": {"any": ["thing", None, 1]},
        "openChoice": {"$type": "pub.layers.testkit.defs#label", "text": "t"},
        "image": {
            "$type": "blob",
            "ref": {"$link": "bafkreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},
            "mimeType": "image/png",
            "size": 12,
        },
    }
    residual: list[Any] = []
    encoded = codec.encode(value, (), residual)
    assert encoded["raw"] == b"\x01\x02\x03"
    # An explicit null of a nullable property is kept aside, with where it was.
    assert [(path_keys(path), item) for path, item in residual] == [(["mustMaybe"], None)]
    array = pa.array([encoded], type=codec.arrow)
    decoded = codec.decode(array.to_pylist()[0])
    decoded["mustMaybe"] = None
    assert decoded == value
