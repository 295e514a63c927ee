"""The exploded views agree with a direct computation over the records."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.records import def_model
from lairs_etl.views import EXPLODED_VIEWS, RecordRow, records_table
from lairs_etl.views.explode import explode_view
from lairs_etl.views.lineage import MAX_LINEAGE_DEPTH, expressions_view, parent_chains
from tests.views import demo

_VIEW = {view.dataset: view for view in EXPLODED_VIEWS}


def _typed(collection: str) -> tuple[pa.Table, list[tuple[str, str, str, dict[str, Any]]]]:
    chosen = [r for r in demo.records() if r[1] == collection and r[2] != "3kbad0000000a"]
    rows = [RecordRow(did, c, rkey, f"cid-{rkey}", value) for did, c, rkey, value in chosen]
    return records_table(collection, rows, "bafycommit"), chosen


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(f"{prefix}_{key}", item, out)
    else:
        out[prefix] = value
    return out


def test_one_annotation_row_per_annotation_with_its_anchor_flattened() -> None:
    table, chosen = _typed(demo.LAYER)
    view = explode_view(table, _VIEW["annotations"]).to_pylist()
    expected = [
        (demo.uri(did, c, rkey), value, position, annotation)
        for did, c, rkey, value in chosen
        for position, annotation in enumerate(value["annotations"])
    ]
    assert len(view) == len(expected) == 8
    for row, (layer_uri, layer, position, annotation) in zip(view, expected, strict=True):
        assert (row["layer_uri"], row["annotation_position"]) == (layer_uri, position)
        assert (row["layer_kind"], row["layer_subkind"]) == (layer["kind"], layer["subkind"])
        assert (row["label"], row["value"], row["confidence"]) == (
            annotation.get("label"),
            annotation.get("value"),
            annotation.get("confidence"),
        )
        anchor = annotation.get("anchor", {})
        assert row["anchor_kind"] == ("+".join(anchor) or None)
        for column, expected_value in _flat("anchor", anchor, {}).items():
            assert row[column] == expected_value, column


def test_anchor_columns_cover_every_anchor_kind_of_the_model() -> None:
    table, _ = _typed(demo.LAYER)
    columns = explode_view(table, _VIEW["annotations"]).column_names
    kinds = {field.alias or name for name, field in def_model("pub.layers.defs#anchor").model_fields.items()}
    assert kinds == {
        "externalTarget",
        "pageAnchor",
        "spatioTemporalAnchor",
        "temporalSpan",
        "textSpan",
        "tokenRef",
        "tokenRefSequence",
    }
    for kind in kinds:
        assert any(c.startswith(f"anchor_{kind}_") for c in columns), kind
    assert "anchor_pageAnchor_boundingBox_width" in columns


def test_one_token_row_per_token_of_every_tokenization() -> None:
    table, chosen = _typed(demo.SEG)
    view = explode_view(table, _VIEW["tokens"]).to_pylist()
    expected = [
        (tokenization["uuid"]["value"], t_pos, token)
        for _, _, _, value in chosen
        for t_pos, tokenization in enumerate(value["tokenizations"])
        for token in tokenization["tokens"]
    ]
    assert len(view) == len(expected) == 5
    for row, (uuid, t_pos, token) in zip(view, expected, strict=True):
        assert (row["tokenization_uuid_value"], row["tokenization_position"]) == (uuid, t_pos)
        assert (row["tokenIndex"], row["text"]) == (token["tokenIndex"], token["text"])
        assert (row["textSpan_byteStart"], row["textSpan_byteEnd"]) == (
            token["textSpan"]["byteStart"],
            token["textSpan"]["byteEnd"],
        )
        assert row["token_position"] == token["tokenIndex"]


def test_one_judgment_row_per_judgment() -> None:
    table, chosen = _typed(demo.JSET)
    view = explode_view(table, _VIEW["judgments"]).to_pylist()
    judgments = [j for _, _, _, value in chosen for j in value["judgments"]]
    assert len(view) == len(judgments) == 3
    for row, judgment in zip(view, judgments, strict=True):
        assert row["item_recordRef"] == judgment["item"].get("recordRef")
        assert row["item_localId_value"] == judgment["item"].get("localId", {}).get("value")
        assert (row["scalarValue"], row["categoricalValue"], row["freeText"]) == (
            judgment.get("scalarValue"),
            judgment.get("categoricalValue"),
            judgment.get("freeText"),
        )


def test_empty_table_gives_an_empty_view_with_columns() -> None:
    empty = records_table(demo.LAYER, [], "c")
    view = explode_view(empty, _VIEW["annotations"])
    assert view.num_rows == 0
    assert "anchor_textSpan_byteStart" in view.column_names


@pytest.mark.parametrize(
    ("parents", "expected"),
    [
        ({"a": None, "b": "a", "c": "b"}, {"a": (), "b": ("a",), "c": ("b", "a")}),
        ({"x": "missing"}, {"x": ("missing",)}),
        ({"p": "q", "q": "p"}, {"p": ("q",), "q": ("p",)}),  # a cycle stops before repeating
        ({"s": "s"}, {"s": ()}),
    ],
)
def test_parent_chains(parents: dict[str, str | None], expected: dict[str, tuple[str, ...]]) -> None:
    assert parent_chains(parents) == expected


def test_a_long_chain_is_cut_at_the_lineage_depth() -> None:
    # n expressions each under the previous one: listing whole chains would cost n**2/2 URIs.
    n = 5 * MAX_LINEAGE_DEPTH
    parents = {f"e{i}": (f"e{i - 1}" if i else None) for i in range(n)}
    chains = parent_chains(parents)
    assert max(len(chain) for chain in chains.values()) == MAX_LINEAGE_DEPTH
    assert chains[f"e{n - 1}"][:3] == (f"e{n - 2}", f"e{n - 3}", f"e{n - 4}")
    assert chains["e3"] == ("e2", "e1", "e0")


def test_expressions_view_carries_text_and_the_chain_across_actors() -> None:
    table, chosen = _typed(demo.EXPR)
    parents = {demo.uri(d, c, r): v.get("parentRef") for d, c, r, v in chosen}
    rows = {row["uri"]: row for row in expressions_view(table, parent_chains(parents)).to_pylist()}
    doc, para, sent = (
        demo.uri(demo.ALICE, demo.EXPR, k) for k in ("3kdoc0000000a", "3kpar0000000a", "3ksen0000000a")
    )
    bob = demo.uri(demo.BOB, demo.EXPR, "3kbob0000000a")
    assert rows[sent]["parent_chain"] == [para, doc]
    assert rows[sent]["depth"] == 2
    assert rows[sent]["root_uri"] == doc
    assert rows[bob]["parent_chain"] == [para, doc]
    assert rows[doc]["root_uri"] == doc
    assert rows[doc]["depth"] == 0
    assert rows[sent]["text"] == "Alice visits Paris."


@settings(max_examples=50, deadline=None)
@given(
    st.data(),
    st.lists(st.text("abc/:.", min_size=1, max_size=12), min_size=1, max_size=8, unique=True),
)
def test_the_parent_chain_column_lists_each_chain_in_order(data: st.DataObject, pool: list[str]) -> None:
    # Chains share their URIs (siblings repeat ancestors); the column must still list
    # each expression's own chain, nearest first, with empty lists where there is none.
    table, _ = _typed(demo.EXPR)
    uris = table.column("uri").to_pylist()
    chains = {uri: tuple(data.draw(st.lists(st.sampled_from(pool), max_size=6))) for uri in uris[1:]}
    view = expressions_view(table, chains)
    assert view.schema.field("parent_chain").type == pa.list_(pa.string())
    assert view.column("parent_chain").to_pylist() == [list(chains.get(uri, ())) for uri in uris]
    assert view.column("parent_chain").null_count == 0
    assert view.column("depth").to_pylist() == [len(chains.get(uri, ())) for uri in uris]
