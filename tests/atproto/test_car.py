from __future__ import annotations

import io
from collections.abc import Iterator

import libipld
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car, write_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.errors import BlockHashMismatch, CarFormatError


def _blocks(n: int, size: int = 10) -> list[tuple[Cid, bytes]]:
    out = []
    for i in range(n):
        data = cbor.encode({"i": i, "pad": "x" * (size * i)})
        out.append((cid_for_dag_cbor(data), data))
    return out


def _car(roots: list[Cid], blocks: list[tuple[Cid, bytes]]) -> bytes:
    sink = io.BytesIO()
    written = write_car(sink, roots, blocks)
    assert written == len(sink.getvalue())
    return sink.getvalue()


_block_lists = st.lists(
    st.builds(
        lambda data, raw: (cid_for_raw(data) if raw else cid_for_dag_cbor(data), data),
        st.binary(max_size=300),
        st.booleans(),
    ),
    max_size=12,
)


@settings(max_examples=100)
@given(_block_lists, st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=2))
def test_round_trip_whatever_the_chunking(blocks: list[tuple[Cid, bytes]], chunk: int, n_roots: int) -> None:
    roots = [cid for cid, _ in blocks[:n_roots]]
    data = _car(roots, blocks)
    reader = read_car(data[i : i + chunk] for i in range(0, len(data), chunk))
    assert reader.roots == roots
    assert list(reader) == blocks
    assert reader.bytes_read == len(data)
    assert reader.blocks_read == len(blocks)


def test_output_is_read_by_an_independent_implementation() -> None:
    blocks = _blocks(20)
    header, decoded = libipld.decode_car(_car([blocks[0][0]], blocks))
    assert header == {"version": 1, "roots": [bytes(blocks[0][0])]}
    assert decoded == {bytes(cid): cbor.decode(data) for cid, data in blocks}


def test_reads_from_a_binary_file() -> None:
    blocks = _blocks(500, size=30)  # about 3.7 MB: spans several 1 MiB reads
    data = _car([blocks[0][0]], blocks)
    with io.BytesIO(data) as file:
        assert list(read_car(file)) == blocks


def test_empty_roots_are_accepted() -> None:
    # com.atproto.sync.getBlocks answers with a root-less CAR.
    blocks = _blocks(3)
    reader = read_car(_car([], blocks))
    assert reader.roots == []
    assert list(reader) == blocks


def test_block_offsets_can_be_derived_while_streaming() -> None:
    blocks = _blocks(5)
    data = _car([], blocks)
    reader = read_car(data)
    for cid, block in reader:
        start = reader.bytes_read - len(block)
        assert data[start : start + len(block)] == block
        assert data[start - 36 : start] == bytes(cid)


def test_every_truncation_inside_a_section_is_a_format_error() -> None:
    blocks = _blocks(3)
    data = _car([cid_for_dag_cbor(b"r")], blocks)
    boundaries = {len(_car([cid_for_dag_cbor(b"r")], blocks[:n])): n for n in range(len(blocks) + 1)}
    for cut in range(len(data)):
        if cut in boundaries:
            # CARv1 has no trailer: a cut between sections reads as a shorter CAR; the
            # MST walk over the blocks is what notices the missing ones.
            assert list(read_car(data[:cut])) == blocks[: boundaries[cut]]
        else:
            with pytest.raises(CarFormatError):
                list(read_car(data[:cut]))


def test_a_tampered_block_names_its_cid() -> None:
    blocks = _blocks(3)
    data = bytearray(_car([], blocks))
    data[-1] ^= 0x01  # last byte of the last block
    with pytest.raises(BlockHashMismatch) as info:
        list(read_car(bytes(data)))
    assert info.value.cid == blocks[-1][0].encode()
    assert len(list(read_car(bytes(data), verify=False))) == 3


def test_expected_root() -> None:
    blocks = _blocks(2)
    data = _car([blocks[0][0]], blocks)
    assert read_car(data, expected_root=blocks[0][0]).roots == [blocks[0][0]]
    with pytest.raises(CarFormatError) as info:
        read_car(data, expected_root=blocks[1][0])
    assert info.value.cid == blocks[1][0].encode()
    with pytest.raises(CarFormatError):
        read_car(_car([], blocks)).expect_root(blocks[0][0])


def _framed(payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([len(payload)]) + payload


@pytest.mark.parametrize(
    "data",
    [
        _framed(cbor.encode({"version": 2, "roots": []})),
        _framed(cbor.encode({"roots": []})),
        _framed(cbor.encode({"version": 1, "roots": ["bafy"]})),
        _framed(cbor.encode({"version": 1})),
        _framed(cbor.encode([1])),
        _framed(b"\xff\xff"),
        b"\x00",
        b"\x80\x00" + cbor.encode({"version": 1, "roots": []}),  # non-minimal varint
        b"\xff" * 11,  # varint too long
    ],
    ids=[
        "v2",
        "no version",
        "root not cid",
        "no roots",
        "not a map",
        "not cbor",
        "empty header",
        "non-minimal varint",
        "endless varint",
    ],
)
def test_malformed_headers(data: bytes) -> None:
    with pytest.raises(CarFormatError):
        list(read_car(data))


def test_empty_stream() -> None:
    with pytest.raises(CarFormatError):
        read_car(b"")
    with pytest.raises(CarFormatError):
        read_car(iter([]))


def test_oversized_section_is_refused_before_it_is_read() -> None:
    header = _car([], [])
    huge = header + b"\xff\xff\xff\xff\x0f"  # declares ~4 GiB, then nothing

    def chunks() -> Iterator[bytes]:
        yield huge
        raise AssertionError("the reader must not ask for the section body")

    with pytest.raises(CarFormatError, match="out of bounds"):
        list(read_car(chunks()))
    small = _blocks(2, size=400)
    with pytest.raises(CarFormatError):
        list(read_car(_car([], small), max_block_size=100))


def test_unsupported_cid_in_a_section() -> None:
    data = b"\x01\x70\x12\x20" + bytes(32)  # dag-pb CID
    section = bytes([len(data) + 1]) + data + b"\x00"
    with pytest.raises(CarFormatError, match="unsupported CID"):
        list(read_car(_car([], []) + section))


def test_a_reader_is_one_shot() -> None:
    reader = read_car(_car([], _blocks(2)))
    list(reader)
    with pytest.raises(CarFormatError):
        iter(reader)


def test_lengths_of_every_varint_width() -> None:
    # 1-, 2- and 3-byte section lengths take different paths through the reader.
    blocks = [(cid_for_raw(data), data) for data in (b"a" * 10, b"b" * 1000, b"c" * 100_000)]
    data = _car([], blocks)
    assert list(read_car(data)) == blocks
    assert list(read_car(data[i : i + 3] for i in range(0, len(data), 3))) == blocks


def test_non_minimal_section_length() -> None:
    section = b"\x80\x00"
    with pytest.raises(CarFormatError, match="minimally"):
        list(read_car(_car([], []) + section))


def test_reading_is_lazy() -> None:
    blocks = _blocks(200, size=5)
    data = _car([], blocks)
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for i in range(0, len(data), 1000):
            pulled += 1
            yield data[i : i + 1000]

    reader = read_car(chunks())
    first = next(iter(reader))
    assert first == blocks[0]
    assert pulled <= 2  # the header and first block, not the whole stream
