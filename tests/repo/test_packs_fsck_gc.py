"""fsck finds each kind of damage; gc removes leftovers and nothing a ref needs."""

from __future__ import annotations

import time
from pathlib import Path

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import cid_for_dag_cbor, cid_for_raw
from lairs_etl.repo.fsck import dag_cbor_links, fsck_packs, fsck_refs
from lairs_etl.repo.gc import collect_garbage
from lairs_etl.repo.layout import index_key, pack_key, packset_key
from lairs_etl.repo.packset import PackSetReader, write_blocks
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import Storage, open_storage

from ._helpers import commit_records, objects_under, record


def _repo(storage: Storage) -> None:
    for n in range(3):
        commit_records(storage, [record(i, salt=f"{n}-") for i in range(30)])


def test_healthy_repository_passes_and_counts_what_it_checked(storage: Storage) -> None:
    _repo(storage)
    report = fsck_refs(storage)
    assert report.ok, report.problems
    assert report.reachable == 3 * (30 + 4)  # records, tree, actor root, shard, commit
    assert report.blocks_hashed == report.reachable


def test_flipped_byte_in_a_pack_is_found(storage: Storage) -> None:
    _repo(storage)
    head = Refs(storage).get("heads", "main")
    pack = sorted(PackSetReader(storage, head.packset).packs())[0]
    data = bytearray(storage.get(pack_key(pack)))
    data[len(data) // 2] ^= 0x01
    storage.put(pack_key(pack), bytes(data))
    report = fsck_refs(storage)
    assert not report.ok
    assert any(pack in p for p in report.problems)


def test_missing_pack_and_segment_are_found(storage: Storage) -> None:
    _repo(storage)
    head = Refs(storage).get("heads", "main")
    reader = PackSetReader(storage, head.packset)
    storage.delete(pack_key(sorted(reader.packs())[0]))
    assert not fsck_refs(storage).ok
    storage.delete(index_key(reader.packset.segments[0].index))
    assert not fsck_refs(storage).ok
    storage.delete(packset_key(head.packset))
    assert not fsck_refs(storage).ok


def test_reachable_block_missing_from_the_packset_is_found(storage: Storage) -> None:
    absent = cid_for_dag_cbor(cbor.encode("never stored"))
    holder = cbor.encode({"link": absent})
    packset = write_blocks(storage, None, [(cid_for_dag_cbor(holder), holder)], roots=[])
    report = fsck_packs(storage, packset.name, [cid_for_dag_cbor(holder)])
    assert [absent.encode() in p for p in report.problems] == [True] * len(report.problems)
    assert report.problems


def test_default_links_skip_blobs() -> None:
    blob = cid_for_dag_cbor(b"x")  # a dag-cbor link is followed...
    raw = cid_for_raw(b"blob bytes")
    data = cbor.encode({"a": [blob, {"image": {"ref": raw}}]})
    assert list(dag_cbor_links(cid_for_dag_cbor(data), data)) == [blob]  # ...a raw one is not


def test_gc_collects_leftovers_but_keeps_young_objects_and_live_ones(storage: Storage) -> None:
    _repo(storage)
    leftover = write_blocks(storage, None, [(cid_for_dag_cbor(b"\x01"), b"\x01")], roots=[])
    live_before = objects_under(storage) - {packset_key(leftover.name)}
    young = collect_garbage(storage)  # default grace: everything just written is kept
    assert young.deleted == []
    assert packset_key(leftover.name) in young.kept_young
    dry = collect_garbage(storage, grace_seconds=0, now=time.time() + 1, dry_run=True)
    assert dry.deleted
    assert all(storage.exists(k) for k in dry.deleted)
    done = collect_garbage(storage, grace_seconds=0, now=time.time() + 1)
    assert done.deleted == dry.deleted
    assert packset_key(leftover.name) in done.deleted
    assert not storage.exists(packset_key(leftover.name))
    assert objects_under(storage) <= live_before
    assert fsck_refs(storage).ok


def test_gc_sweeps_temp_files_of_killed_local_writes(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    _repo(storage)
    partial = tmp_path / "packs" / ("0" * 64 + ".car.tmp-deadbeef")
    partial.write_bytes(b"half a pack")
    assert all(".tmp-" not in o.key for o in storage.list("packs/"))  # never an object
    assert collect_garbage(storage).partials_removed == 0  # young: maybe a live write
    report = collect_garbage(storage, grace_seconds=0, now=time.time() + 1)
    assert report.partials_removed == 1
    assert not partial.exists()
    assert fsck_refs(storage).ok
