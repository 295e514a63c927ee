"""DAG-CBOR/CAR codec benchmark: libipld vs cbrrr, and our verified CAR reader.

Builds a repository-shaped CAR (Layers-like annotation layers and expressions, MST-like
nodes, a commit) of N records and times, per library, best of R runs:

* CAR -> every block decoded (libipld: native ``decode_car``; cbrrr: our framing);
* record blocks -> atproto JSON form (cbrrr natively; libipld needs a Python walk and
  cannot tell links from byte strings, so its output is lossy: timed for cost only);
* encoding records from the JSON form and from the IPLD form;
* our ``read_car`` with and without hash verification (MB/s, blocks/s) against the
  bare-framing floor, and our ``cbor.decode`` wrapper against raw cbrrr.

Then a strictness table: which hostile inputs each library rejects.

    .venv/bin/python bench/codec.py [--records 20000] [--repeat 3] [--pds N]

``--pds N`` also writes N records to the local reference PDS (started here, stopped
at the end) and runs the CAR timings on its real ``getRepo`` output.
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import random
import time
from collections.abc import Callable
from typing import Any

import cbrrr
import libipld

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car, write_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.atproto.commit import sign_commit
from lairs_etl.atproto.crypto import generate_private_key
from lairs_etl.atproto.syntax import Did
from lairs_etl.atproto.tid import next_tid

WORDS = ("the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by",
         "on", "not", "he", "this", "are", "or", "his", "from", "at", "which")


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _uuid(rng: random.Random) -> dict[str, Any]:
    return {"value": f"{rng.getrandbits(128):032x}"}


def annotation_layer(rng: random.Random, did: str, i: int) -> dict[str, Any]:
    anns = []
    pos = 0
    for t in range(rng.randint(8, 40)):
        start, pos = pos, pos + rng.randint(1, 12)
        ann: dict[str, Any] = {
            "uuid": _uuid(rng),
            "anchor": {"textSpan": {"byteStart": start, "byteEnd": pos}},
            "tokenIndex": t,
            "label": rng.choice(["NOUN", "VERB", "ADJ", "DET", "ADP", "PRON", "PUNCT"]),
            "confidence": rng.randint(0, 1000),
        }
        if rng.random() < 0.3:
            ann["features"] = {"entries": [{"key": "lemma", "value": rng.choice(WORDS)}]}
        anns.append(ann)
    return {
        "$type": "pub.layers.annotation.annotationLayer",
        "expression": f"at://{did}/pub.layers.expression.expression/3k{i:011d}",
        "kind": "token-tag",
        "subkind": "pos",
        "formalism": "universal-dependencies",
        "annotations": anns,
        "metadata": {"tool": "bench-tagger", "version": "1.0", "timestamp": "2026-11-21T12:00:00.000Z"},
        "createdAt": "2026-11-21T12:00:00.000Z",
        "languages": ["en"],
    }


def expression(rng: random.Random, i: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "pub.layers.expression.expression",
        "id": f"{rng.getrandbits(128):032x}",
        "kind": "document",
        "text": _text(rng, rng.randint(30, 400)),
        "createdAt": "2026-11-21T12:00:00.000Z",
        "languages": ["en"],
    }
    if rng.random() < 0.2:
        record["mediaBlob"] = {
            "$type": "blob",
            "ref": cid_for_raw(rng.randbytes(16)),
            "mimeType": "audio/wav",
            "size": rng.randint(1000, 10**7),
        }
    if rng.random() < 0.1:
        record["features"] = {"checksum": rng.randbytes(20)}
    return record


def build_repo(n: int, seed: int = 7) -> tuple[bytes, list[bytes], list[Any]]:
    """A CAR of n records + MST-like nodes (fan-out ~4) + commit; also the record blocks and values."""
    rng = random.Random(seed)
    did = "did:plc:benchbenchbenchbenchbenc"
    records = [annotation_layer(rng, did, i) if i % 2 else expression(rng, i) for i in range(n)]
    blocks: list[tuple[Cid, bytes]] = []
    leaves: list[tuple[bytes, Cid]] = []
    for i, record in enumerate(records):
        data = cbor.encode(record)
        cid = cid_for_dag_cbor(data)
        blocks.append((cid, data))
        coll = "pub.layers.annotation.annotationLayer" if i % 2 else "pub.layers.expression.expression"
        leaves.append((f"{coll}/3k{i:011d}".encode(), cid))
    leaves.sort()
    record_blocks = [data for _, data in blocks]
    level: list[Cid | None] = []
    for start in range(0, len(leaves), 4):
        entries, prev = [], b""
        for key, cid in leaves[start : start + 4]:
            common = 0
            while common < min(len(key), len(prev)) and key[common] == prev[common]:
                common += 1
            entries.append({"k": key[common:], "p": common, "t": None, "v": cid})
            prev = key
        node = cbor.encode({"e": entries, "l": None})
        blocks.append((cid_for_dag_cbor(node), node))
        level.append(cid_for_dag_cbor(node))
    while len(level) > 1:
        parents: list[Cid | None] = []
        for start in range(0, len(level), 4):
            children = level[start : start + 4]
            entries = [
                {"k": leaves[(start + j) % len(leaves)][0], "p": 0, "t": child, "v": leaves[j][1]}
                for j, child in enumerate(children[1:])
            ]
            node = cbor.encode({"e": entries, "l": children[0]})
            blocks.append((cid_for_dag_cbor(node), node))
            parents.append(cid_for_dag_cbor(node))
        level = parents
    assert level[0] is not None
    commit_cid, commit = sign_commit(Did(did), level[0], next_tid(), None, generate_private_key())
    blocks.insert(0, (commit_cid, commit))
    sink = io.BytesIO()
    write_car(sink, [commit_cid], blocks)
    return sink.getvalue(), record_blocks, records


def best(fn: Callable[[], object], repeat: int, *, collect: bool = False) -> float:
    """Best of ``repeat`` runs; the cyclic GC is paused (as timeit does) unless ``collect``."""
    times = []
    for _ in range(repeat):
        gc.collect()
        if not collect:
            gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def pair(fn_a: Callable[[], object], fn_b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best times of two functions run alternately, so load on a shared machine hits both alike."""
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(best(fn_a, 1))
        times_b.append(best(fn_b, 1))
    return min(times_a), min(times_b)


def _libipld_json(value: Any) -> Any:
    """libipld output -> JSON form; CIDs arrive as bytes, so links become $bytes (lossy)."""
    if isinstance(value, dict):
        return {k: _libipld_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_libipld_json(v) for v in value]
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode().rstrip("=")}
    return value


def _to_libipld(value: Any) -> Any:
    """JSON form -> what libipld encodes (links as base32 strings? no: as CID bytes)."""
    if isinstance(value, dict):
        if len(value) == 1 and "$link" in value:
            return bytes(Cid.decode(value["$link"]))
        if len(value) == 1 and "$bytes" in value:
            return base64.b64decode(value["$bytes"] + "=" * (-len(value["$bytes"]) % 4))
        return {k: _to_libipld(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_libipld(v) for v in value]
    return value


def _to_ipld_for_libipld(value: Any) -> Any:
    if isinstance(value, Cid):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _to_ipld_for_libipld(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_ipld_for_libipld(v) for v in value]
    return value


def cbrrr_car_decode(car: bytes) -> dict[Cid, Any]:
    return {cid: cbrrr.decode_dag_cbor(data) for cid, data in read_car(car, verify=False)}


def codec_table(car: bytes, record_blocks: list[bytes], records: list[Any], repeat: int) -> None:
    json_records = [cbrrr.decode_dag_cbor(b, atjson_mode=True) for b in record_blocks]
    libipld_records = [_to_libipld(r) for r in json_records]
    ipld_records = [cbrrr.decode_dag_cbor(b) for b in record_blocks]
    libipld_ipld = [_to_ipld_for_libipld(r) for r in ipld_records]
    rows = [
        ("CAR -> all blocks decoded", lambda: libipld.decode_car(car), lambda: cbrrr_car_decode(car)),
        (
            "record blocks -> JSON form",
            lambda: [_libipld_json(libipld.decode_dag_cbor(b)) for b in record_blocks],
            lambda: [cbrrr.decode_dag_cbor(b, atjson_mode=True) for b in record_blocks],
        ),
        (
            "record blocks -> IPLD form",
            lambda: [libipld.decode_dag_cbor(b) for b in record_blocks],
            lambda: [cbrrr.decode_dag_cbor(b) for b in record_blocks],
        ),
        (
            "encode records from JSON form",
            lambda: [libipld.encode_dag_cbor(_to_libipld(r)) for r in json_records],
            lambda: [cbrrr.encode_dag_cbor(r, atjson_mode=True) for r in json_records],
        ),
        (
            "encode records from IPLD form",
            lambda: [libipld.encode_dag_cbor(r) for r in libipld_ipld],
            lambda: [cbrrr.encode_dag_cbor(r) for r in ipld_records],
        ),
    ]
    assert [libipld.encode_dag_cbor(r) for r in libipld_records[:200]] == record_blocks[:200]
    print(f"\n{'step':34} {'libipld':>10} {'cbrrr':>10} {'cbrrr/libipld time':>20}")
    for name, lib_fn, cb_fn in rows:
        t_lib, t_cb = pair(lib_fn, cb_fn, repeat)
        print(f"{name:34} {t_lib:9.3f}s {t_cb:9.3f}s {t_cb / t_lib:19.2f}x")


def car_table(label: str, car: bytes, repeat: int) -> None:
    n_blocks = sum(1 for _ in read_car(car, verify=False))
    mb = len(car) / 1e6
    framing = best(lambda: sum(1 for _ in read_car(car, verify=False)), repeat)
    verified = best(lambda: sum(1 for _ in read_car(car, verify=True)), repeat)
    chunks = [car[i : i + 65536] for i in range(0, len(car), 65536)]
    chunked = best(lambda: sum(1 for _ in read_car(iter(chunks))), repeat)
    bare = best(lambda: libipld.decode_car(car), repeat)
    full_raw = best(lambda: cbrrr_car_decode(car), repeat)
    full_ours = best(lambda: [cbor.decode(d) for _, d in read_car(car, verify=True)], repeat)
    print(f"\n{label}: {mb:.1f} MB, {n_blocks} blocks")
    print(f"{'read':44} {'time':>8} {'MB/s':>8} {'blocks/s':>10} {'vs floor':>9}")
    for name, t in (
        ("floor: libipld.decode_car (bare decode)", bare),
        ("read_car framing only (verify=False)", framing),
        ("read_car verified (sha-256 every block)", verified),
        ("read_car verified, 64 KiB chunks", chunked),
        ("read_car unverified + cbrrr decode", full_raw),
        ("read_car verified + cbor.decode (strict)", full_ours),
    ):
        print(f"{name:44} {t:7.3f}s {mb / t:8.1f} {n_blocks / t:10.0f} {bare / t:8.2f}x")


def wrapper_overhead(record_blocks: list[bytes], repeat: int) -> None:
    raw, ours = pair(
        lambda: [cbrrr.decode_dag_cbor(b, atjson_mode=True) for b in record_blocks],
        lambda: [cbor.decode_json_form(b) for b in record_blocks],
        repeat,
    )
    raw_i, ours_i = pair(
        lambda: [cbrrr.decode_dag_cbor(b) for b in record_blocks],
        lambda: [cbor.decode(b) for b in record_blocks],
        repeat,
    )
    raw_t, trusted = pair(
        lambda: [cbrrr.decode_dag_cbor(b, atjson_mode=True) for b in record_blocks],
        lambda: [cbor.decode_json_form(b, max_depth=None) for b in record_blocks],
        repeat,
    )
    paused, with_gc = [], []
    for _ in range(repeat):
        paused.append(best(lambda: [cbor.decode_json_form(b) for b in record_blocks], 1))
        with_gc.append(best(lambda: [cbor.decode_json_form(b) for b in record_blocks], 1, collect=True))
    print(
        f"\nstrict wrapper vs raw cbrrr: JSON form {ours / raw:.2f}x, IPLD form {ours_i / raw_i:.2f}x, "
        f"JSON form with max_depth=None {trusted / raw_t:.2f}x"
    )
    print(
        f"cyclic GC left on while decoding every record (JSON form): {min(with_gc) / min(paused):.2f}x "
        "the time with it paused"
    )


HOSTILE = {
    "nesting 100,000 deep": b"\x81" * 100_000 + b"\x00",
    "nesting 65 deep (> our 64)": b"\x81" * 65 + b"\x00",
    "declared length 2^64 bytes": b"\x5b\xff\xff\xff\xff\xff\xff\xff\xf0",
    "declared array 2^64 items": b"\x9b\xff\xff\xff\xff\xff\xff\xff\xf0",
    "map keys out of order": b"\xa2\x61b\x01\x61a\x02",
    "duplicate map key": b"\xa2\x61a\x01\x61a\x02",
    "float64": b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",
    "float32": b"\xfa\x3f\x80\x00\x00",
    "trailing bytes": b"\x01\x02",
    "indefinite-length array": b"\x9f\x01\xff",
    "non-minimal integer": b"\x18\x01",
    "tag other than 42": b"\xc1\x01",
    "CID without 0x00 prefix": b"\xd8\x2a\x45\x01\x71\x12\x20\x00",
    "invalid UTF-8": b"\x62\xff\xfe",
}


def strictness_table() -> None:
    def outcome(fn: Callable[[bytes], object], data: bytes) -> str:
        try:
            fn(data)
        except cbor.CodecError:
            return "CodecError"
        except RecursionError:
            return "RecursionErr"
        except Exception as exc:
            return "rejects" if isinstance(exc, ValueError) else type(exc).__name__
        return "ACCEPTS"

    print(f"\n{'hostile input':30} {'libipld':>13} {'cbrrr':>13} {'lairs cbor':>13}")
    for name, data in HOSTILE.items():
        print(
            f"{name:30} {outcome(libipld.decode_dag_cbor, data):>13} "
            f"{outcome(cbrrr.decode_dag_cbor, data):>13} {outcome(cbor.decode, data):>13}"
        )


def pds_car(n: int) -> bytes:
    from lairs_etl.localpds import LocalPds

    rng = random.Random(3)
    with LocalPds() as pds:
        account = pds.create_account(f"bench{rng.getrandbits(20):x}.test")
        half = n // 2
        account.bulk_create(
            "pub.layers.expression.expression", (_jsonable(expression(rng, i)) for i in range(half))
        )
        account.bulk_create(
            "pub.layers.annotation.annotationLayer",
            (_jsonable(annotation_layer(rng, str(account.did), i)) for i in range(n - half)),
        )
        return account.get_repo()


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON form for applyWrites; blob refs dropped (the PDS refuses blobs never uploaded)."""
    record = {key: value for key, value in record.items() if key != "mediaBlob"}
    converted: dict[str, Any] = cbrrr.decode_dag_cbor(cbor.encode(record), atjson_mode=True)
    return converted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pds", type=int, default=0, help="also benchmark a real getRepo CAR of N records")
    args = parser.parse_args()
    print(f"libipld {libipld.__version__ if hasattr(libipld, '__version__') else '3.x'}, cbrrr 1.1.x")
    car, record_blocks, records = build_repo(args.records)
    print(f"synthetic repo: {args.records} records, {len(car) / 1e6:.1f} MB CAR")
    codec_table(car, record_blocks, records, args.repeat)
    wrapper_overhead(record_blocks, args.repeat)
    car_table("synthetic CAR", car, args.repeat)
    strictness_table()
    if args.pds:
        car_table(f"local PDS getRepo CAR ({args.pds} records)", pds_car(args.pds), args.repeat)
    else:
        print("\nlocal PDS CAR: skipped (pass --pds N to start the reference PDS and use its getRepo)")


if __name__ == "__main__":
    main()
