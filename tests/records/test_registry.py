"""The NSID registry is discovered from the generated modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lairs_etl._codegen import lexicons_dir, read_pin
from lairs_etl.errors import LexiconError
from lairs_etl.records import LEXICON_SHA256, def_model, find_record_model, record_model, record_types
from lairs_etl.records._generated import MODULES


def test_record_types_are_sorted_unique_nsids() -> None:
    types = record_types()
    assert list(types) == sorted(set(types))
    assert all(t.startswith("pub.layers.") and "#" not in t for t in types)


def test_unknown_nsid() -> None:
    assert find_record_model("com.example.nothing") is None
    with pytest.raises(LexiconError):
        record_model("com.example.nothing")


def test_def_models_by_lexicon_id() -> None:
    layer = record_model("pub.layers.annotation.annotationLayer")
    assert def_model("pub.layers.annotation.annotationLayer") is layer
    assert def_model("pub.layers.annotation.annotationLayer#main") is layer
    assert def_model("lex:pub.layers.defs#uuid").LEX_ID == "pub.layers.defs#uuid"
    with pytest.raises(LexiconError):
        def_model("pub.layers.defs#nothing")


def test_models_come_from_every_generated_module() -> None:
    modules = {record_model(nsid).__module__.rsplit(".", 1)[1] for nsid in record_types()}
    assert modules <= set(MODULES)
    assert "annotation" in modules


def test_registry_names_the_pinned_tree() -> None:
    assert read_pin(lexicons_dir() / "manifest.json").sha256 == LEXICON_SHA256


def test_models_from_the_registry_are_built() -> None:
    model = record_model("pub.layers.annotation.annotationLayer")
    assert model.__pydantic_complete__
    assert not isinstance(model.model_fields["annotations"].annotation, str)


def test_public_surface() -> None:
    import lairs_etl.records as records

    assert list(records.__all__) == sorted(records.__all__)
    assert all(hasattr(records, name) for name in records.__all__)


def test_importing_records_stays_light() -> None:
    heavy = ("httpx", "dagster", "pyarrow", "duckdb", "lairs_etl._codegen")
    code = f"import sys, lairs_etl.records; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
