"""Validation throughput on realistic Layers records, against baselines in the same run.

Records: ``annotationLayer`` records with hundreds of annotations each (token-level POS
and NER layers anchored by byte spans and token refs), the segmentation and expression
they annotate, plus valid generated records of every other type (from the lexicon-driven
hypothesis strategies in ``tests.records.strategies``).

Measured on the same records:
- ours: ``lairs_etl.records.validate_record`` (model selection, diagnostics and the
  data-model check that ``lairs-etl validate`` needs for JSON input);
- ours from DAG-CBOR: the same with ``from_dag_cbor=True``, as the fetch, pull and views
  paths call it on decoded blocks (storable by construction: no data-model check);
- baseline (a): plain pydantic ``Model.model_validate`` on the generated model;
- baseline (b): ``jsonschema`` (Draft 2020-12) on a JSON Schema translated from the same
  lexicons (structure, required, types, integer bounds, array sizes; string limits are
  in code points there, formats not asserted: a cheaper check than the lexicon's);
- for scale, the reference ``@atproto/lexicon`` in Node when the Node env is installed.

Rates are records per CPU second (``time.process_time``; Node's own ``process.cpuUsage``
after a warm-up pass), taken as the best of interleaved rounds: the machine is shared, so
wall time would mostly measure the neighbours. ours and (a) run the same pydantic code, so
their ratio shows the overhead of model selection and diagnostics plus the noise floor.

Run: ``.venv/bin/python bench/validate.py`` (about 20 s of CPU). Bench-only dependency:
jsonschema.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jsonschema  # type: ignore[import-untyped]  # bench-only dependency without stubs

from lairs_etl.records import find_record_model, validate_record
from tests.records.strategies import LexiconTree, corpus

_BUDGET_S = 1.0  # per measured validator and group
_ROUND_S = 0.25
_UPOS = ["NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "PROPN", "NUM", "PUNCT", "CCONJ", "AUX"]
_WORDS = [
    "die",
    "fähre",
    "kommt",
    "um",
    "sieben",
    "und",
    "der",
    "hafen",
    "ist",
    "voll",
    "möwen",
    "schreien",
    "über",
    "dem",
    "kai",
]
_DID = "did:plc:7iza6de2dwap2sbkpav7c6c6"


def _uuid(rng: random.Random) -> dict[str, str]:
    return {"value": str(uuid.UUID(int=rng.getrandbits(128)))}


def _at(collection: str, rng: random.Random) -> str:
    rkey = "3l" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))
    return f"at://{_DID}/pub.layers.{collection}/{rkey}"


def realistic_records(rng: random.Random, layers: int, tokens: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(layers):
        words = [rng.choice(_WORDS) for _ in range(tokens)]
        text = " ".join(words)
        spans, pos = [], 0
        for word in words:
            size = len(word.encode())
            spans.append((pos, pos + size))
            pos += size + 1
        expression = _at("expression.expression", rng)
        tokenization = _uuid(rng)
        created = (
            f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00.{rng.randint(0, 999):03d}Z"
        )
        out.append(
            {
                "$type": "pub.layers.expression.expression",
                "id": f"doc-{rng.getrandbits(32):08x}",
                "kind": "transcript",
                "text": text,
                "languages": ["de"],
                "createdAt": created,
            }
        )
        out.append(
            {
                "$type": "pub.layers.segmentation.segmentation",
                "expression": expression,
                "tokenizations": [
                    {
                        "uuid": tokenization,
                        "kind": "whitespace",
                        "tokens": [
                            {"tokenIndex": i, "text": w, "textSpan": {"byteStart": s, "byteEnd": e}}
                            for i, (w, (s, e)) in enumerate(zip(words, spans, strict=True))
                        ],
                    }
                ],
                "createdAt": created,
            }
        )
        pos_annotations = [
            {
                "uuid": _uuid(rng),
                "anchor": {"tokenRef": {"tokenizationId": tokenization, "tokenIndex": i}},
                "tokenIndex": i,
                "label": rng.choice(_UPOS),
                "confidence": rng.randint(600, 1000),
                **(
                    {"features": {"entries": [{"key": "Number", "value": rng.choice(["Sing", "Plur"])}]}}
                    if rng.random() < 0.3
                    else {}
                ),
            }
            for i in range(tokens)
        ]
        out.append(
            {
                "$type": "pub.layers.annotation.annotationLayer",
                "expression": expression,
                "kind": "token-tag",
                "subkind": "pos",
                "formalism": "universal-dependencies",
                "sourceMethod": "automatic",
                "annotations": pos_annotations,
                "createdAt": created,
            }
        )
        ner = [
            {
                "uuid": _uuid(rng),
                "anchor": {
                    "textSpan": {"byteStart": spans[i][0], "byteEnd": spans[min(i + 2, tokens - 1)][1]}
                },
                "label": rng.choice(["PER", "LOC", "ORG", "MISC"]),
                "text": " ".join(words[i : i + 3]),
                "confidence": rng.randint(400, 1000),
            }
            for i in range(0, tokens, 3)
        ]
        out.append(
            {
                "$type": "pub.layers.annotation.annotationLayer",
                "expression": expression,
                "kind": "span",
                "subkind": "ner",
                "annotations": ner,
                "createdAt": created,
            }
        )
    return out


# --- lexicon -> JSON Schema (baseline b) -------------------------------------------------


def _key(nsid: str, name: str) -> str:
    return f"{nsid}.{name}"


def json_schema(tree: LexiconTree) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for nsid, name, definition in tree.walk_defs():
        body = definition["record"] if definition.get("type") == "record" else definition
        if body.get("type") in ("object", "string", "integer", "array", "boolean", "union", "ref"):
            defs[_key(nsid, name)] = _schema(body, nsid, tree)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": defs,
        "type": "object",
        "required": ["$type"],
        "oneOf": [
            {
                "properties": {"$type": {"const": nsid}},
                "allOf": [{"$ref": f"#/$defs/{_key(nsid, 'main')}"}],
            }
            for nsid in tree.record_types
        ],
    }


def _schema(d: Mapping[str, Any], base: str, tree: LexiconTree) -> dict[str, Any]:
    kind = d["type"]
    if kind == "object":
        return {
            "type": "object",
            "required": list(d.get("required", [])),
            "properties": {k: _schema(v, base, tree) for k, v in d.get("properties", {}).items()},
        }
    if kind == "ref":
        nsid, name, _ = tree.resolve(d["ref"], base)
        return {"$ref": f"#/$defs/{_key(nsid, name)}"}
    if kind == "union":
        members = []
        for ref in d["refs"]:
            nsid, name, _ = tree.resolve(ref, base)
            members.append(
                {
                    "properties": {"$type": {"const": tree.type_name(nsid, name)}},
                    "allOf": [{"$ref": f"#/$defs/{_key(nsid, name)}"}],
                }
            )
        return {"type": "object", "required": ["$type"], "anyOf": members}
    if kind == "array":
        out: dict[str, Any] = {"type": "array", "items": _schema(d["items"], base, tree)}
        if "maxLength" in d:
            out["maxItems"] = d["maxLength"]
        if "minLength" in d:
            out["minItems"] = d["minLength"]
        return out
    if kind == "string":
        out = {"type": "string"}
        if "maxLength" in d:
            out["maxLength"] = d["maxLength"]
        if "format" in d:
            out["format"] = {"datetime": "date-time"}.get(d["format"], d["format"])
        return out
    if kind == "integer":
        out = {"type": "integer"}
        if "minimum" in d:
            out["minimum"] = d["minimum"]
        if "maximum" in d:
            out["maximum"] = d["maximum"]
        return out
    if kind == "boolean":
        return {"type": "boolean"}
    return {"type": "object"}  # blob, unknown, bytes, cid-link: objects in JSON form


# --- measurement --------------------------------------------------------------------------


def _rates(
    checks: Mapping[str, Callable[[Mapping[str, Any]], object]], records: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    """Best records/s of CPU time per check, over interleaved rounds: the machine is shared,
    so wall time would measure the neighbours."""
    for check in checks.values():  # warm caches (schema compilation, lazy model build)
        for record in records:
            check(record)
    best = dict.fromkeys(checks, 0.0)
    deadline = time.process_time() + _BUDGET_S * len(checks)
    order = list(checks)
    while time.process_time() < deadline:
        order = order[1:] + order[:1]  # rotate, so no check always runs right after another
        for name in order:
            check = checks[name]
            done, start = 0, time.process_time()
            while (elapsed := time.process_time() - start) < _ROUND_S:
                for record in records:
                    check(record)
                done += len(records)
            best[name] = max(best[name], done / elapsed)
    return best


def _node_rate(records: Sequence[Mapping[str, Any]], tree: LexiconTree) -> float | None:
    try:
        from tests.records.reference import reference_rate

        return reference_rate(records, tree.root, cpu_seconds=_BUDGET_S)
    except (ImportError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"(reference validator unavailable: {exc})")
        return None


def main() -> None:
    tree = LexiconTree.load()
    rng = random.Random(7)
    layers = realistic_records(rng, layers=12, tokens=300)
    others = [s.record for s in corpus(tree, per_type=3) if s.mutation == "valid"]
    records = layers + others
    annotations = sum(len(r.get("annotations", [])) for r in records)
    size = sum(len(json.dumps(r)) for r in records)
    print(
        f"{len(records)} records ({len(layers)} realistic, {len(others)} generated of 26 types), "
        f"{annotations} annotations, {size / 1e6:.1f} MB of JSON; rates are per CPU second"
    )

    verdicts = [validate_record(r) for r in records]
    bad = [(r["$type"], v.diagnostics[:2]) for r, v in zip(records, verdicts, strict=True) if not v.valid]
    if bad:
        print(f"WARNING: {len(bad)} bench records invalid for us, e.g. {bad[:2]}")

    models = {nsid: find_record_model(nsid) for nsid in tree.record_types}
    validator = jsonschema.Draft202012Validator(json_schema(tree))
    schema_ok = sum(validator.is_valid(r) for r in records)
    print(f"jsonschema accepts {schema_ok}/{len(records)}")

    def plain(record: Mapping[str, Any]) -> object:
        model = models[record["$type"]]
        assert model is not None
        return model.model_validate(record)

    realistic_layers = [r for r in layers if r["$type"].endswith("annotationLayer")]
    groups = {
        "annotation layers, 100-300 annotations each": realistic_layers,
        "their expressions and segmentations (300 tokens)": [r for r in layers if r not in realistic_layers],
        "generated valid records of all 26 types": others,
    }
    for title, group in groups.items():
        per_record = sum(len(r.get("annotations", [])) for r in group) / len(group)
        rates = _rates(
            {
                "ours: validate_record": validate_record,
                "ours, from DAG-CBOR (fetch path)": lambda r: validate_record(r, from_dag_cbor=True),
                "(a) pydantic model_validate": plain,
                "(b) jsonschema Draft 2020-12": validator.is_valid,
            },
            group,
        )
        ours = rates["ours: validate_record"]
        rows = list(rates.items())
        node = _node_rate(group, tree)
        if node is not None:
            rows.append(("reference @atproto/lexicon (Node)", node))
        print(f"\n{title}: {len(group)} records")
        print(f"{'validator':<36}{'records/s':>11}{'annotations/s':>15}{'ours/this':>11}")
        for label, rate in rows:
            per_s = f"{rate * per_record:,.0f}" if per_record else "-"
            print(f"{label:<36}{rate:>11,.0f}{per_s:>15}{ours / rate:>10.2f}x")


if __name__ == "__main__":
    main()
