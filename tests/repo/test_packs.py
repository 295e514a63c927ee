"""Packs, index segments and packsets: framing, lookups, dedup, write and read costs."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.errors import CodecError, NotFoundError, RepositoryCorruptError, RepositoryError
from lairs_etl.repo import packindex
from lairs_etl.repo.layout import pack_key
from lairs_etl.repo.packindex import IndexSegment, Location, build_segment, cid_key, key_cid, merge_segments
from lairs_etl.repo.packs import encode_pack, iter_pack, read_block, write_pack
from lairs_etl.repo.packset import MERGE_FACTOR, PackSetReader, read_packset, write_blocks
from lairs_etl.repo.refs import Refs
from lairs_etl.repo.storage import Storage, open_storage

from ._helpers import CountingStorage, commit_records, record


def blocks_of(values: list[object]) -> dict[Cid, bytes]:
    return {cid_for_dag_cbor(d): d for d in (cbor.encode(v) for v in values)}


def test_pack_is_a_car_whose_offsets_point_at_each_block(storage: Storage) -> None:
    blocks = blocks_of([{"n": i, "pad": "x" * i} for i in range(50)])
    root = next(iter(blocks))
    pack = encode_pack([root], blocks.items())
    reader = read_car(pack.data)
    assert reader.roots == [root]
    assert dict(reader) == blocks
    write_pack(storage, pack)
    for cid, offset, length in pack.entries:
        assert pack.data[offset : offset + length] == blocks[cid]
        assert read_block(storage, cid, Location(pack.name, offset, length)) == blocks[cid]


def test_damaged_pack_is_detected() -> None:
    blocks = blocks_of(list(range(5)))
    pack = encode_pack([], blocks.items())
    broken = pack.data[:-1] + bytes([pack.data[-1] ^ 1])
    with pytest.raises(RepositoryCorruptError):
        list(iter_pack(broken))
    with pytest.raises(RepositoryCorruptError):
        list(iter_pack(pack.data[:-3]))


def test_only_atproto_cids_are_indexed() -> None:
    from cbrrr import CID

    with pytest.raises(CodecError):
        cid_key(CID(b"\x01\x71\x13\x20" + bytes(32)))  # sha2-512 code, not sha2-256


keys = st.lists(st.binary(min_size=1, max_size=40), min_size=0, max_size=300, unique=True)


@settings(max_examples=30, deadline=None)
@given(keys, st.lists(st.binary(min_size=1, max_size=40), max_size=20))
def test_segment_finds_exactly_what_it_indexes(present: list[bytes], others: list[bytes]) -> None:
    storage = open_storage("memory://lairs-test-segments")
    cids = [cid_for_dag_cbor(p) if i % 3 else cid_for_raw(p) for i, p in enumerate(present)]
    rows = ((cid_key(c), i % 2, i * 10, i + 1) for i, c in enumerate(cids))
    data = build_segment(["a" * 64, "b" * 64], rows)
    name = "c" * 64
    storage.put(f"indexes/{name}.idx", data)
    lazy, loaded = IndexSegment(storage, name), IndexSegment.load(storage, name)
    for i, cid in enumerate(cids):
        for seg in (lazy, loaded):
            loc = seg.find(cid)
            assert loc is not None
            assert (loc.pack, loc.offset, loc.length) == ("ab"[i % 2] * 64, i * 10, i + 1)
    for other in others:
        if other not in present:
            assert lazy.find(cid_for_dag_cbor(other)) is None
            assert loaded.find(cid_for_dag_cbor(other)) is None
    assert [key_cid(k) for k, *_ in loaded.entries()] == sorted(cids, key=cid_key)


def _indexed(storage: Storage, count: int, name: str = "d" * 64) -> list[Cid]:
    cids = list(blocks_of(list(range(count))))
    storage.put(
        f"indexes/{name}.idx", build_segment(["a" * 64], ((cid_key(c), 0, i, 1) for i, c in enumerate(cids)))
    )
    return cids


def test_a_segment_probed_many_times_reads_itself_whole_once(storage: Storage) -> None:
    """Lookups in small waves (an incremental sync's tree levels) stop paying a read each."""
    cids = _indexed(storage, 3000)
    counting = CountingStorage(storage)
    segment = IndexSegment(counting, "d" * 64)
    for i, cid in enumerate(cids[:500]):
        assert segment.find(cid) == Location("a" * 64, i, 1)
    assert segment.loaded
    assert counting.counts.get("get") == 1  # the whole segment, once
    # the header, then each probe's bucket and the pack names until the load
    assert counting.counts["get_range"] <= 1 + packindex.PROBES_BEFORE_LOAD
    assert segment.find(cid_for_dag_cbor(b"never stored")) is None


def test_a_segment_past_the_autoload_size_stays_on_ranged_reads(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = _indexed(storage, 300)
    monkeypatch.setattr(packindex, "AUTOLOAD_MAX_BYTES", 1024)
    counting = CountingStorage(storage)
    segment = IndexSegment(counting, "d" * 64)
    assert all(segment.find(cid) is not None for cid in cids)
    assert not segment.loaded
    assert "get" not in counting.counts


def test_a_segment_loads_itself_only_once_its_probes_have_cost_its_size(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large segment is not pulled whole to save a few requests."""
    cids = _indexed(storage, 3000)  # ~150 KB
    monkeypatch.setattr(packindex, "PROBE_COST_BYTES", 1024)  # ~146 probes to pay for it
    counting = CountingStorage(storage)
    segment = IndexSegment(counting, "d" * 64)
    assert all(segment.find(cid) is not None for cid in cids[:100])
    assert not segment.loaded
    assert all(segment.find(cid) is not None for cid in cids[100:200])
    assert segment.loaded
    assert counting.counts.get("get") == 1


class _SlowWholeReads(CountingStorage):
    """Whole reads take a while (so that threads overlap) or fail, as asked."""

    def __init__(self, inner: Storage, *, fail: bool = False) -> None:
        super().__init__(inner)
        self.fail = fail

    def get(self, key: str) -> bytes:
        data = super().get(key)
        time.sleep(0.05)
        if self.fail:
            raise RepositoryError(f"backend down for {key}")
        return data


def test_threads_probing_one_segment_load_it_once(storage: Storage) -> None:
    """The sync's fetch workers share the repository's reader."""
    cids = _indexed(storage, 3000)
    slow = _SlowWholeReads(storage)
    segment = IndexSegment(slow, "d" * 64)
    start = threading.Barrier(8)

    def look(part: list[Cid]) -> bool:
        start.wait()
        return all(segment.find(cid) is not None for cid in part)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(look, [cids[i::8] for i in range(8)]))
    assert slow.counts.get("get") == 1


def test_a_failed_whole_read_leaves_the_segment_on_ranged_reads(storage: Storage) -> None:
    cids = _indexed(storage, 3000)
    failing = _SlowWholeReads(storage, fail=True)
    segment = IndexSegment(failing, "d" * 64)
    assert all(segment.find(cid) is not None for cid in cids[:300])
    assert not segment.loaded
    assert failing.counts.get("get") == 1  # tried once, not on every later probe


def test_a_segment_whose_whole_read_contradicts_its_header_is_corrupt(storage: Storage) -> None:
    cids = _indexed(storage, 300)
    segment = IndexSegment(storage, "d" * 64)
    key = "indexes/" + "d" * 64 + ".idx"
    storage.put(key, storage.get(key) + b"x" * 64)  # replaced after its header was read
    with pytest.raises(RepositoryCorruptError):
        _ = [segment.find(cid) for cid in cids]


def test_merged_segment_covers_its_parts(storage: Storage) -> None:
    a = blocks_of(list(range(100)))
    b = blocks_of(list(range(100, 130)))
    seg_a = build_segment(["a" * 64], ((cid_key(c), 0, i, 1) for i, c in enumerate(a)))
    seg_b = build_segment(["b" * 64], ((cid_key(c), 0, i, 2) for i, c in enumerate(b)))
    storage.put("indexes/" + "1" * 64 + ".idx", seg_a)
    storage.put("indexes/" + "2" * 64 + ".idx", seg_b)
    parts = [IndexSegment.load(storage, "1" * 64), IndexSegment.load(storage, "2" * 64)]
    merged_bytes = merge_segments(parts)
    merged = IndexSegment(storage, "3" * 64, merged_bytes)
    assert merged.count == 130
    for cid in a:
        assert merged.find(cid).pack == "a" * 64  # type: ignore[union-attr]
    for cid in b:
        assert merged.find(cid).pack == "b" * 64  # type: ignore[union-attr]


def test_write_blocks_dedups_and_writes_three_objects(storage: Storage) -> None:
    counting = CountingStorage(storage)
    first = blocks_of(list(range(200)))
    ps1 = write_blocks(counting, None, first.items(), roots=[])
    assert counting.writes == 3
    second = {**first, **blocks_of(list(range(200, 210)))}
    ps2 = write_blocks(counting, ps1, second.items(), roots=[])
    assert counting.writes == 6
    new_pack = max((k for k in counting.keys if k.startswith("packs/")), key=counting.keys.index)
    assert len(list(iter_pack(storage.get(new_pack)))) == 10  # only the new blocks
    assert write_blocks(counting, ps2, second.items(), roots=[]) == ps2  # nothing new: nothing written
    assert counting.writes == 6
    reader = PackSetReader(storage, ps2.name)
    assert reader.get_many(second) == second
    assert all(reader.get(c) == d for c, d in second.items())
    with pytest.raises(NotFoundError):
        reader.get(cid_for_dag_cbor(b"\x60"))
    assert PackSetReader(storage, ps1.name).missing(second) == list(blocks_of(list(range(200, 210))))


def test_a_large_commit_is_written_as_several_bounded_packs(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lairs_etl.repo.packset as packset_module

    blocks = blocks_of([{"n": i, "pad": "x" * 200} for i in range(100)])
    monkeypatch.setattr(packset_module, "PACK_BYTES", 2_000)  # about 9 blocks per pack
    counting = CountingStorage(storage)
    packset = write_blocks(counting, None, blocks.items(), roots=[])
    packs = [k for k in counting.keys if k.startswith("packs/")]
    sizes = [sum(len(data) for _, _, data in iter_pack(storage.get(k))) for k in packs]
    assert len(packs) > 1
    assert all(size <= 2_000 for size in sizes)  # each pack bounded ...
    assert sum(sizes) == sum(map(len, blocks.values()))  # ... and every block in exactly one
    assert counting.writes == len(packs) + 2  # the packs, then one index segment and the packset
    reader = PackSetReader(storage, packset.name)
    assert reader.get_many(blocks) == blocks
    assert sorted(reader.packs()) == sorted(k.removeprefix("packs/").removesuffix(".car") for k in packs)


def test_segments_stay_logarithmic_and_old_states_stay_readable() -> None:
    storage = open_storage("memory://lairs-test-merge")
    packset = None
    states = []
    for i in range(120):
        blocks = blocks_of([{"commit": i, "k": k} for k in range(1 + i % 7)])
        packset = write_blocks(storage, packset, blocks.items(), roots=[])
        states.append((packset.name, blocks))
        bound = math.log(packset.blocks, MERGE_FACTOR) + 2
        assert len(packset.segments) <= bound
    for name, blocks in states[::13]:
        reader = PackSetReader(storage, name)
        assert reader.get_many(blocks) == blocks
    assert read_packset(storage, states[-1][0]).blocks == sum(len(b) for _, b in states)


def test_packset_name_is_checked(storage: Storage) -> None:
    packset = write_blocks(storage, None, blocks_of([1]).items(), roots=[])
    storage.put(f"packsets/{packset.name}.cbor", packset.encode() + b"\x00")
    with pytest.raises(RepositoryCorruptError):
        read_packset(storage, packset.name)


def test_damaged_block_is_reported_on_read(storage: Storage) -> None:
    blocks = blocks_of(["hello world, a block"])
    packset = write_blocks(storage, None, blocks.items(), roots=[])
    reader = PackSetReader(storage, packset.name)
    (pack,) = reader.packs()
    data = bytearray(storage.get(pack_key(pack)))
    data[-2] ^= 0xFF
    storage.put(pack_key(pack), bytes(data))
    cid = next(iter(blocks))
    with pytest.raises(RepositoryCorruptError):
        reader.get(cid)
    with pytest.raises(RepositoryCorruptError):
        reader.get_many([cid])


def test_reading_a_record_at_a_tag_costs_a_handful_of_reads(storage: Storage) -> None:
    """After 40 commits, opening a ref and reading one block costs O(segments), not O(commits)."""
    for i in range(40):
        _, head = commit_records(storage, [record(i * 10 + k) for k in range(10)])
    counting = CountingStorage(storage)
    value = Refs(counting).get("heads", "main")
    reader = PackSetReader(counting, value.packset)
    reader.get(value.commit)
    segments = len(reader.packset.segments)
    assert segments <= 4
    # ref + packset + (header + bucket) per probed segment + pack names + the block
    assert counting.reads <= 2 + 2 * segments + 1 + 1
    assert value == head


def test_a_100k_block_commit_writes_at_most_ten_objects() -> None:
    storage = CountingStorage(open_storage("memory://lairs-test-100k"))
    _, head = commit_records(storage, (record(i) for i in range(100_000)))
    assert storage.writes <= 10
    reader = PackSetReader(storage, head.packset)
    assert reader.packset.blocks == 100_000 + 4  # records, tree, actor root + shard, commit
    assert reader.get(cid_for_dag_cbor(record(31_337))) == record(31_337)
