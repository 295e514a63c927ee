"""Parquet views throughput and DuckDB query time, as ratios to baselines of the same run.

Builds synthetic annotation layers (Layers-shaped: each annotation with a label, a
confidence and one anchor of a rotating kind) and times, best of ``--repeat``:

* baseline: ``pyarrow.Table.from_pylist`` of the raw record dicts (Arrow infers the
  types), written to Parquet (zstd) in memory;
* typed: our model-derived record table + the exploded annotations view, written with
  the lake's writer settings (what materialization does per partition);
* materialize: the whole :func:`materialize` to ``memory://`` (validation, every table,
  manifest), records/s and MB/s of DAG-CBOR input.

Then it materializes ``--rows`` annotation rows (default 1,000,000) to a local lake,
builds the warehouse and times dashboard queries on the ``annotations`` view, against
the same queries on the same rows held as an in-memory Arrow table.

    .venv/bin/python bench/views.py [--layers 400] [--per-layer 50] [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lairs_etl.atproto import cbor
from lairs_etl.views import (
    EXPLODED_VIEWS,
    MemorySource,
    RecordRow,
    SourceRecord,
    build_warehouse,
    connect_warehouse,
    materialize,
    records_table,
)
from lairs_etl.views.explode import explode_view
from lairs_etl.views.writer import WriteOptions, parquet_bytes

LAYER = "pub.layers.annotation.annotationLayer"
LABELS = ["PER", "LOC", "ORG", "MISC", "DATE", "EVENT", "NOUN", "VERB", "ADJ", "ADV"]


def _anchor(rng: random.Random, i: int) -> dict[str, Any]:
    kind = i % 4
    if kind == 0:
        start = rng.randrange(10_000)
        return {"textSpan": {"byteStart": start, "byteEnd": start + rng.randrange(1, 40)}}
    if kind == 1:
        return {"tokenRef": {"tokenizationId": {"value": "tok-1"}, "tokenIndex": rng.randrange(2000)}}
    if kind == 2:
        start = rng.randrange(100_000)
        return {"temporalSpan": {"start": start, "ending": start + rng.randrange(1, 5000)}}
    return {
        "pageAnchor": {
            "page": rng.randrange(300),
            "boundingBox": {"x": 1, "y": 2, "width": rng.randrange(1, 99), "height": 5},
        }
    }


def layers(count: int, per_layer: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        out.append(
            {
                "$type": LAYER,
                "createdAt": "2025-03-04T05:06:07.089Z",
                "kind": "span",
                "subkind": rng.choice(["ner", "pos", "sentiment"]),
                "expression": f"at://did:plc:bench{n % 7}/pub.layers.expression.expression/3k{n:011d}",
                "annotations": [
                    {
                        "uuid": {"value": f"a{n}-{i}"},
                        "label": rng.choice(LABELS),
                        "confidence": rng.randrange(1001),
                        "anchor": _anchor(rng, i),
                    }
                    for i in range(per_layer)
                ],
            }
        )
    return out


def source(values: list[dict[str, Any]], actors: int = 8) -> MemorySource:
    items = []
    for n, value in enumerate(values):
        block = cbor.encode_json_form(value)
        items.append(
            SourceRecord(
                f"did:plc:bench{n % actors:021d}", LAYER, f"3k{n:011d}", f"bafy{n}", value, len(block)
            )
        )
    return MemorySource("bafybenchcommit", items)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def baseline(values: list[dict[str, Any]]) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(values), sink, compression="zstd")


def typed(values: list[dict[str, Any]]) -> None:
    rows = [RecordRow("did:plc:x", LAYER, f"3k{n:011d}", "bafy", v) for n, v in enumerate(values)]
    table = records_table(LAYER, rows, "bafycommit")
    view = explode_view(table, next(v for v in EXPLODED_VIEWS if v.dataset == "annotations"))
    parquet_bytes(table, {}, WriteOptions())
    parquet_bytes(view, {}, WriteOptions())


QUERIES = {
    "labels by subkind": "SELECT layer_subkind, label, count(*), avg(confidence) FROM {t} GROUP BY ALL",
    "text-span filter": "SELECT count(*) FROM {t} WHERE anchor_textSpan_byteStart BETWEEN 100 AND 2000",
    "per actor x anchor kind": "SELECT did, anchor_kind, count(*) FROM {t} GROUP BY ALL",
}


def _runner(con: duckdb.DuckDBPyConnection, sql: str) -> Callable[[], object]:
    return lambda: con.sql(sql).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=400)
    parser.add_argument("--per-layer", type=int, default=50)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    values = layers(args.layers, args.per_layer)
    src = source(values)
    mb = sum(item.size for item in src.items) / 1e6
    n = len(values)
    print(f"{n} annotation layers x {args.per_layer} annotations, {mb:.1f} MB DAG-CBOR")
    t_base = best(lambda: baseline(values), args.repeat)
    t_typed = best(lambda: typed(values), args.repeat)
    t_mat = best(lambda: materialize(src, f"memory://bench-{secrets.token_hex(4)}"), args.repeat)
    for name, t in (
        ("baseline from_pylist+parquet", t_base),
        ("typed table+view+parquet", t_typed),
        ("materialize (validate, all tables)", t_mat),
    ):
        print(f"  {name:38s} {t:7.3f} s  {n / t:9.0f} records/s  {mb / t:6.2f} MB/s  x{t / t_base:5.2f} time")

    per_layer = 100
    big = layers(max(1, args.rows // per_layer), per_layer, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = materialize(source(big), f"{tmp}/lake")
        t_big = time.perf_counter() - started
        rows = summary.manifest.table(
            next(e.key for e in summary.manifest.tables if e.key.dataset == "annotations")
        )
        assert rows is not None
        print(
            f"\nmaterialized {rows.rows} annotation rows in {t_big:.1f} s "
            f"({rows.rows / t_big:.0f} annotations/s, {summary.bytes_written / 1e6:.1f} MB Parquet)"
        )
        build_warehouse(f"{tmp}/lake", f"{tmp}/w.duckdb")
        con = connect_warehouse(f"{tmp}/w.duckdb")
        arrow = con.sql("SELECT * FROM annotations").to_arrow_table()
        mem = duckdb.connect()
        mem.register("mem_annotations", arrow)
        for label, sql in QUERIES.items():
            t_view = best(_runner(con, sql.format(t="annotations")), args.repeat)
            t_mem = best(_runner(mem, sql.format(t="mem_annotations")), args.repeat)
            print(
                f"  {label:26s} parquet view {t_view * 1000:7.1f} ms   in-memory arrow {t_mem * 1000:7.1f} ms"
                f"   x{t_view / t_mem:5.2f}"
            )
        con.close()


if __name__ == "__main__":
    main()
