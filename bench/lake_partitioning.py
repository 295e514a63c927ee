"""Identity vs bucket partitioning of a lake table of many small actors, as ratios.

The lake writes one Parquet file per (table, actor) partition and registers it in an
Iceberg table partitioned by ``identity(did)`` (:mod:`lairs_etl.views.iceberg`); a Layers
corpus spread over thousands of single-purpose accounts makes that thousands of tiny
files per table. This compares ``bucket(--buckets, did)`` with one file per bucket, on
the same rows in the same process, for each ``--actors`` count K (``--rows`` rows per
actor), best of ``--repeat`` (identity and bucket interleaved):

* query: DuckDB ``iceberg_scan`` of (a) the identity table (one file per actor) and
  (b) the bucket table (one file per bucket), each against ``read_parquet`` over that
  table's files; a dashboard aggregate (``GROUP BY label``, count, avg) and one actor's
  rows (``WHERE did = ...``, with the number of files ``iceberg_scan`` reads for it);
* plan: pyiceberg's ``table.scan().plan_files()``, which every lairs-etl commit runs;
* rewrite one actor: identity writes the actor's new file and commits an overwrite
  replacing one file; bucket reads the actor's bucket file, replaces the actor's rows,
  writes the bucket anew and commits an overwrite replacing one file. Both plan the
  table first and keep the table object between commits, as ``LakeCatalog.commit``
  does; ``LakeCatalog.commit`` itself is timed on a third table of the identity files
  (lairs-etl's own path, a check that the identity mirror is representative);
* full write: every file written, then the table created holding them in one commit.

Rows: ``--schema narrow`` (default) is an annotation-like table of 9 columns (strings,
an int, a float, a list of strings); ``--schema annotations`` is the lake's own
``annotations`` view (bench/views.py's synthetic layers through lairs-etl's record table
and explode: 124 columns, about 25 ms of Parquet writing and data-file statistics per
file, so keep K <= 1000 with it). Files are written with lairs-etl's writer (zstd level 3,
content-named); both tables get the properties ``LakeCatalog`` gives its tables (read
off a one-file table it commits first: compression, column-metrics settings) and
lairs-etl's name mapping, and their data files are lairs-etl's ``_data_file`` (for
bucket with the bucket number put in: pyiceberg cannot infer it from a file of several
actors), so both layouts carry the same per-file statistics as the lake. Only a
temporary directory is touched; the defaults take about two minutes on 2 cores, most
of it the identity tables at K = 4000.

    .venv/bin/python bench/lake_partitioning.py [--actors 100,1000,4000] [--rows 5]
        [--buckets 16] [--repeat 3] [--schema narrow|annotations]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.transforms import BucketTransform
from pyiceberg.typedef import Record
from pyiceberg.types import StringType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import views as views_bench  # bench/views.py: its synthetic annotation layers

from lairs_etl.views import EXPLODED_VIEWS, RecordRow, records_table
from lairs_etl.views.duck import connect, load_extension
from lairs_etl.views.explode import explode_view
from lairs_etl.views.iceberg import (
    PARTITION_COLUMN,
    LakeCatalog,
    LakeFileIO,
    _CreateTransaction,
    _data_file,
    _describe_schema,
    _Transaction,
)
from lairs_etl.views.lakeaccess import sql_literal
from lairs_etl.views.layout import TableKey, part_name, partition_path, table_dir
from lairs_etl.views.writer import WriteOptions, parquet_bytes, replace_file

KEY = TableKey("annotations", views_bench.LAYER)
LABELS = views_bench.LABELS
OPTIONS = WriteOptions()
QUERIES = {
    "dashboard": "SELECT label, count(*), avg(confidence) FROM {source} GROUP BY label ORDER BY label",
    "one actor": "SELECT count(*), avg(confidence) FROM {source} WHERE did = {did}",
}
KINDS = ("identity", "bucket")


def did_of(n: int) -> str:
    """A did:plc-shaped DID (24 base32 characters, spread like real ones: a bucket's min/max span)."""
    return "did:plc:" + base64.b32encode(hashlib.sha256(str(n).encode()).digest()).decode()[:24].lower()


# --- rows ---------------------------------------------------------------------------------


def narrow_rows(did: str, rows: int, version: int) -> pa.Table:
    """An annotation-like table of 9 columns: strings, an int, a float, a list of strings."""
    rng = random.Random(f"{did}/{version}")
    return pa.table(
        {
            "uri": [f"at://{did}/{views_bench.LAYER}/3k{i:011d}" for i in range(rows)],
            "did": [did] * rows,
            "cid": [f"bafy{version}x{i}" for i in range(rows)],
            "layer_subkind": [rng.choice(["ner", "pos", "sentiment"]) for _ in range(rows)],
            "label": [rng.choice(LABELS) for _ in range(rows)],
            "confidence": pa.array([rng.randrange(1001) for _ in range(rows)], pa.int64()),
            "score": pa.array([rng.random() for _ in range(rows)], pa.float64()),
            "tags": pa.array(
                [[rng.choice(LABELS), rng.choice(LABELS)] for _ in range(rows)], pa.list_(pa.string())
            ),
            "createdAt": ["2025-03-04T05:06:07.089Z"] * rows,
        }
    )


class AnnotationRows:
    """The lake's ``annotations`` view of one layer of ``rows`` annotations, per actor.

    Built once through lairs-etl's record table and explode; each actor's copy gets its
    DID and layer URI, and per version other labels and confidences.
    """

    def __init__(self, rows: int) -> None:
        value = views_bench.layers(1, rows)[0]
        record = RecordRow("did:plc:x", views_bench.LAYER, "3k0", "bafy", value)
        table = records_table(views_bench.LAYER, [record], "bafycommit")
        view = next(v for v in EXPLODED_VIEWS if v.dataset == "annotations")
        self.template = explode_view(table, view)

    def __call__(self, did: str, rows: int, version: int) -> pa.Table:
        rng = random.Random(f"{did}/{version}")
        table = self.template
        n = table.num_rows
        replaced = {
            "did": pa.array([did] * n),
            "layer_uri": pa.array([f"at://{did}/{views_bench.LAYER}/3k{version:011d}"] * n),
            "label": pa.array([rng.choice(LABELS) for _ in range(n)]),
            "confidence": pa.array([rng.randrange(1001) for _ in range(n)], pa.int64()),
        }
        for name, column in replaced.items():
            index = table.schema.get_field_index(name)
            table = table.set_column(index, table.schema.field(index), column)
        return table


# --- one Iceberg table of the K actors, one layout -----------------------------------------


@dataclass
class Layout:
    """The actors' rows as ``identity`` (a file per actor) or ``bucket`` (a file per bucket)."""

    kind: str
    buckets: int
    root: str
    catalog: SqlCatalog
    name: str
    properties: dict[str, str]
    table: Table | None = None
    files: dict[object, str] = field(default_factory=dict)
    """Partition value (DID or bucket number) → its current file (a local path)."""
    fs: fsspec.AbstractFileSystem = field(default_factory=lambda: fsspec.filesystem("file"))

    def __post_init__(self) -> None:
        self._bucket = BucketTransform(self.buckets).transform(StringType())

    def part(self, did: str) -> object:
        return did if self.kind == "identity" else self._bucket(did)

    def write(self, part: object, table: pa.Table) -> str:
        """One partition file, as lairs-etl writes it (content-named, replaced in one step)."""
        data = parquet_bytes(table, {"lairs_etl.table": KEY.name}, OPTIONS)
        if self.kind == "identity":
            path = partition_path(self.root, KEY, 1, str(part), part_name(data))
        else:
            path = f"{table_dir(self.root, KEY, 1)}/did_bucket={part}/{part_name(data)}"
        replace_file(self.fs, path, data)
        return path

    def data_file(self, io: FileIO, metadata: TableMetadata, part: object, path: str) -> DataFile:
        url = self.fs.unstrip_protocol(path)
        if self.kind == "identity":
            return _data_file(io, metadata, url)
        assert isinstance(part, int)
        return _bucket_data_file(io, metadata, url, part)

    def create(self, by_actor: dict[str, pa.Table]) -> None:
        """Write every file, then create the table holding them in one commit."""
        grouped: dict[object, list[pa.Table]] = {}
        for did in sorted(by_actor):
            grouped.setdefault(self.part(did), []).append(by_actor[did])
        self.files = {part: self.write(part, pa.concat_tables(tables)) for part, tables in grouped.items()}
        schema = next(iter(by_actor.values())).schema
        tx = self.catalog.create_table_transaction(
            ("bench", self.name), schema=schema, location=table_dir(self.root, KEY, 1)
        )
        tx.__class__ = _CreateTransaction  # as LakeCatalog._create does
        with tx.update_spec() as spec:
            if self.kind == "identity":
                spec.add_identity(PARTITION_COLUMN)
            else:
                spec.add_field(PARTITION_COLUMN, BucketTransform(self.buckets), f"{PARTITION_COLUMN}_bucket")
        tx.set_properties(self.properties)  # as LakeCatalog creates its tables (zstd, metrics)
        _describe_schema(tx, schema)
        io = LakeFileIO({})
        metadata = tx.table_metadata
        entries = [self.data_file(io, metadata, part, path) for part, path in self.files.items()]
        with tx.update_snapshot(snapshot_properties={"lairs.commit": "c0"}).fast_append() as append:
            for entry in entries:
                append.append_data_file(entry)
        tx.commit_transaction()
        self.table = self.catalog.load_table(("bench", self.name))

    def rewrite(self, did: str, rows: pa.Table, version: int) -> None:
        """Replace one actor's rows: its own file (identity) or its bucket's file (bucket)."""
        part = self.part(did)
        if self.kind == "identity":
            new = rows
        else:
            old = pq.read_table(self.files[part], filesystem=self.fs)
            kept = old.filter(pc.not_equal(old["did"], did))
            new = pa.concat_tables([kept, rows]).sort_by("did")
        path = self.write(part, new)
        self.commit(part, path, version)
        self.files[part] = path

    def commit(self, part: object, path: str, version: int) -> None:
        """What ``LakeCatalog._commit_once`` does when one partition is covered."""
        table = self.table
        assert table is not None
        current = {task.file.file_path: task.file for task in table.scan().plan_files()}
        url = self.fs.unstrip_protocol(path)
        removed = [data for p, data in current.items() if p != url and data.partition[0] == part]
        tx = _Transaction(table)
        with tx.update_snapshot(snapshot_properties={"lairs.commit": f"c{version}"}).overwrite() as overwrite:
            for data in removed:
                overwrite.delete_data_file(data)
            overwrite.append_data_file(self.data_file(table.io, tx.table_metadata, part, path))
        tx.commit_transaction()  # updates ``table`` in place: the next commit starts from it


def _bucket_data_file(io: FileIO, metadata: TableMetadata, path: str, bucket: int) -> DataFile:
    """lairs-etl's ``_data_file``, with the bucket number as the partition.

    pyiceberg infers a file's partition from its statistics only when the source
    column's min == max, which a bucket of several actors has not: the entry is made
    against the table's unpartitioned spec 0 (same statistics), then given its bucket.
    """
    entry = _data_file(io, metadata.model_copy(update={"default_spec_id": 0}), path)
    entry[3] = Record(bucket)  # the data file's ``partition`` field (position 3 in Iceberg's struct)
    entry.spec_id = metadata.default_spec_id
    return entry


class LairsIdentity:
    """lairs-etl's own ``LakeCatalog.commit`` over the identity layout's files (its own catalog)."""

    def __init__(self, identity: Layout, schema: pa.Schema) -> None:
        self.layout = identity
        self.schema = schema
        self.catalog = LakeCatalog(identity.root)  # _lairs_catalog.sqlite beside the files
        self.files = {(KEY.collection, str(did)): path for did, path in identity.files.items()}
        self.catalog.commit(KEY, 1, schema, self.files, None, {"lairs.commit": "c0"})

    def rewrite(self, did: str, rows: pa.Table, version: int) -> None:
        slot = (KEY.collection, did)
        self.files[slot] = self.layout.write(did, rows)
        done = self.catalog.commit(
            KEY, 1, self.schema, self.files, slot.__eq__, {"lairs.commit": f"c{version}"}
        )
        assert (done.files_added, done.files_removed) == (1, 1), done


def lake_properties(rows: pa.Table, lake: str) -> dict[str, str]:
    """The table properties ``LakeCatalog`` gives a lake table (its schema's own set by the caller)."""
    did = rows["did"][0].as_py()
    data = parquet_bytes(rows, {}, OPTIONS)
    path = partition_path(lake, KEY, 1, did, part_name(data))
    replace_file(fsspec.filesystem("file"), path, data)
    catalog = LakeCatalog(lake)
    catalog.commit(KEY, 1, rows.schema, {(KEY.collection, did): path}, None, {})
    table = catalog.load(KEY, 1)
    assert table is not None
    return dict(table.properties)


# --- measurements -------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass
class Result:
    """Seconds per (measurement, layout), every run kept."""

    actors: int
    rows: int
    files: dict[str, int] = field(default_factory=dict)
    pruned: dict[str, str] = field(default_factory=dict)
    """Files ``iceberg_scan`` reads for the one-actor query (DuckDB's ``EXPLAIN ANALYZE``)."""
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, what: str, kind: str, seconds: float) -> None:
        self.times.setdefault((what, kind), []).append(seconds)

    def best(self, what: str, kind: str) -> float:
        return min(self.times[(what, kind)])

    def median(self, what: str, kind: str) -> float:
        return statistics.median(self.times[(what, kind)])


def measure(
    actors: int, rows: int, buckets: int, repeat: int, make: Callable[[str, int, int], pa.Table]
) -> Result:
    """Every measurement at ``actors`` actors, identity and bucket interleaved."""
    result = Result(actors, rows)
    work = Path(tempfile.mkdtemp(prefix="lairs-bench-partitioning-"))
    try:
        catalog = SqlCatalog(
            "bench",
            uri=f"sqlite:///{work}/catalog.sqlite",
            warehouse=f"file://{work}",
            **{"py-io-impl": f"{LakeFileIO.__module__}.{LakeFileIO.__qualname__}"},
        )
        catalog.create_namespace("bench")
        dids = [did_of(n) for n in range(actors)]
        by_actor = {did: make(did, rows, 0) for did in dids}
        schema = by_actor[dids[0]].schema
        properties = lake_properties(by_actor[dids[0]], f"{work}/probe")

        layouts: dict[str, Layout] = {}
        for attempt in range(repeat):  # full write: a new table (and directory) each time
            for kind in KINDS:
                root, name = f"{work}/{kind}-{attempt}", f"{kind}_{attempt}"
                layout = Layout(kind, buckets, root, catalog, name, properties)
                result.add("full write", kind, timed(lambda layout=layout: layout.create(by_actor)))
                if kind in layouts:
                    shutil.rmtree(layouts[kind].root, ignore_errors=True)
                layouts[kind] = layout
        result.files = {kind: len(layout.files) for kind, layout in layouts.items()}

        con = connect()
        load_extension(con, "iceberg")
        sources: dict[tuple[str, str], str] = {}
        for kind, layout in layouts.items():
            assert layout.table is not None
            sources[("iceberg_scan", kind)] = f"iceberg_scan({sql_literal(layout.table.metadata_location)})"
            listed = ", ".join(sql_literal(path) for path in sorted(layout.files.values()))
            sources[("read_parquet", kind)] = f"read_parquet([{listed}])"
        one = sql_literal(dids[actors // 2])
        statements = {
            (query, how, kind): sql.format(source=source, did=one)
            for query, sql in QUERIES.items()
            for (how, kind), source in sources.items()
        }
        answers: dict[str, set[str]] = {}
        for (query, _, _), sql in statements.items():
            answers.setdefault(query, set()).add(repr(con.execute(sql).fetchall()))
        assert all(len(found) == 1 for found in answers.values()), "the four sources disagree"
        for kind in KINDS:
            plan = con.execute("EXPLAIN ANALYZE " + statements["one actor", "iceberg_scan", kind]).fetchall()
            result.pruned[kind] = "+".join(re.findall(r"Total Files Read:\s*(\d+)", str(plan))) or "?"
        for _ in range(repeat):
            for (query, how, kind), sql in statements.items():
                result.add(f"{query}: {how}", kind, timed(lambda sql=sql: con.execute(sql).fetchall()))
            for kind, layout in layouts.items():
                table = layout.table
                assert table is not None
                result.add("plan_files", kind, timed(lambda table=table: list(table.scan().plan_files())))
        con.close()

        lairs = LairsIdentity(layouts["identity"], schema)
        writers: dict[str, Layout | LairsIdentity] = {**layouts, "lairs-etl": lairs}
        chosen = [dids[(i * 7919 + 1) % actors] for i in range(max(repeat, 3))]
        for version, did in enumerate(chosen, start=1):
            new = make(did, rows, version)
            for kind, writer in writers.items():
                seconds = timed(lambda w=writer, d=did, t=new, v=version: w.rewrite(d, t, v))
                result.add("rewrite one actor", kind, seconds)
        tables = [layouts["identity"].table, layouts["bucket"].table, lairs.catalog.load(KEY, 1)]
        found = {repr(sorted(t.scan().to_arrow()["confidence"].to_pylist())) for t in tables if t is not None}
        assert len(found) == 1, "the rewritten tables disagree"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


ROWS = (
    "dashboard: iceberg_scan",
    "dashboard: read_parquet",
    "one actor: iceberg_scan",
    "one actor: read_parquet",
    "plan_files",
    "rewrite one actor",
    "full write",
)


def report(result: Result, buckets: int) -> None:
    k, files, runs = result.actors, result.files, len(result.times[ROWS[0], "bucket"])
    print(
        f"\nK = {k:,} actors x {result.rows} rows = {k * result.rows:,} rows: identity {files['identity']:,}"
        f" files, bucket({buckets}) {files['bucket']:,} files (best of {runs})"
    )
    print(f"  {'':26s} {'identity':>10s} {'bucket':>10s} {'bucket/identity':>16s}")
    for what in ROWS:
        i, b = result.best(what, "identity"), result.best(what, "bucket")
        print(f"  {what:26s} {i * 1000:8.1f}ms {b * 1000:8.1f}ms {b / i:15.3f}x")
    for query in QUERIES:
        for kind in KINDS:
            via = result.best(f"{query}: iceberg_scan", kind)
            direct = result.best(f"{query}: read_parquet", kind)
            print(f"  {query}, iceberg_scan / read_parquet, {kind:8s} {via / direct:6.2f}x")
    read = result.pruned
    print(
        f"  one actor, files iceberg_scan reads: identity {read['identity']} of {files['identity']:,}, "
        f"bucket {read['bucket']} of {files['bucket']:,}"
    )
    what = "rewrite one actor"
    i, b, lairs = (result.median(what, kind) for kind in (*KINDS, "lairs-etl"))
    print(
        f"  rewrite one actor, median of {len(result.times[what, 'bucket'])}: identity {i * 1000:.1f} ms, "
        f"bucket {b * 1000:.1f} ms ({b / i:.3f}x); lairs-etl LakeCatalog.commit (identity) "
        f"{lairs * 1000:.1f} ms ({lairs / i:.2f}x the identity mirror)"
    )


def summary(results: list[Result], buckets: int) -> None:
    short = ("dash ice", "dash rp", "actor ice", "actor rp", "plan", "rewrite", "write")
    print(
        f"\nbucket({buckets}) / identity, best times (< 1: bucket is faster; "
        "ice: iceberg_scan, rp: read_parquet)"
    )
    print(f"  {'K':>6s} " + "".join(f"{name:>11s}" for name in short))
    for result in results:
        ratios = (result.best(what, "bucket") / result.best(what, "identity") for what in ROWS)
        print(f"  {result.actors:6d} " + "".join(f"{r:10.3f}x" for r in ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actors", default="100,1000,4000", help="comma-separated actor counts K")
    parser.add_argument("--rows", type=int, default=5, help="rows per actor")
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--schema", choices=("narrow", "annotations"), default="narrow")
    args = parser.parse_args()
    make = AnnotationRows(args.rows) if args.schema == "annotations" else narrow_rows
    results = []
    for actors in (int(a) for a in args.actors.split(",")):
        started = time.perf_counter()
        results.append(measure(actors, args.rows, args.buckets, args.repeat, make))
        report(results[-1], args.buckets)
        print(f"  ({time.perf_counter() - started:.0f} s)")
    summary(results, args.buckets)


if __name__ == "__main__":
    main()
