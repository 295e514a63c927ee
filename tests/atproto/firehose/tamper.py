"""Tampered copies of ``#commit`` frames, for the firehose verification tests.

Every function takes a genuine frame and returns new frame bytes; the input is never
changed. Blocks are read from and written back to the body's ``blocks`` CAR in order.
"""

from __future__ import annotations

import io
from typing import Any

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import read_car, write_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from tests.atproto.firehose.recording import join_frame, split_frame

__all__ = [
    "car_blocks",
    "flip_record_byte",
    "make_car",
    "replace_commit_sig",
    "set_body_fields",
    "set_op",
]


def car_blocks(car: bytes) -> tuple[Cid, list[tuple[Cid, bytes]]]:
    """The single root and the blocks of a CAR, as stored (CIDs not checked)."""
    reader = read_car(car, verify=False)
    (root,) = reader.roots
    return root, list(reader)


def make_car(root: Cid, blocks: list[tuple[Cid, bytes]]) -> bytes:
    """A CARv1 with one root and ``blocks`` in the given order."""
    sink = io.BytesIO()
    write_car(sink, [root], blocks)
    return sink.getvalue()


def flip_record_byte(frame: bytes, op_index: int = 0) -> bytes:
    """Change one character of the longest string in the record block of ``ops[op_index]``.

    The block keeps its CID in the CAR (so it no longer matches the bytes) and still
    decodes as DAG-CBOR: one ASCII letter becomes another of the same length.
    """
    header, body = split_frame(frame)
    target = body["ops"][op_index]["cid"]
    root, blocks = car_blocks(body["blocks"])
    for i, (cid, data) in enumerate(blocks):
        if cid == target:
            blocks[i] = (cid, _flip_string_byte(data))
            break
    else:
        raise ValueError(f"record block {target} is not in the frame's CAR")
    return join_frame(header, {**body, "blocks": make_car(root, blocks)})


def _flip_string_byte(block: bytes) -> bytes:
    record = cbor.decode(block)
    strings = [v for k, v in record.items() if isinstance(v, str) and k != "$type" and v.isascii() and v]
    if not strings:
        raise ValueError("the record has no ASCII string value to change")
    text = max(strings, key=len).encode()
    at = block.index(text) + len(text) - 1  # the last character of that string
    changed = bytearray(block)
    changed[at] ^= 0x01  # e.g. 'd' <-> 'e': still one ASCII character
    out = bytes(changed)
    if cbor.decode(out) == record:
        raise AssertionError("the flipped byte did not change the record")
    return out


def replace_commit_sig(frame: bytes, sig: bytes, *, rehash: bool = True) -> bytes:
    """The commit block (the CAR root) with ``sig`` instead of its signature.

    With ``rehash`` the block gets its new CID: the CAR root and the body's ``commit``
    follow, so only the signature is wrong. Without it the block keeps its old CID
    (so its bytes no longer match it).
    """
    header, body = split_frame(frame)
    root, blocks = car_blocks(body["blocks"])
    new_root = root
    for i, (cid, data) in enumerate(blocks):
        if cid == root:
            commit = cbor.decode(data)
            data = cbor.encode({**commit, "sig": sig})
            new_root = cid_for_dag_cbor(data) if rehash else cid
            blocks[i] = (new_root, data)
            break
    else:
        raise ValueError("the commit block is not in the frame's CAR")
    fields: dict[str, Any] = {"blocks": make_car(new_root, blocks)}
    if rehash:
        fields["commit"] = new_root
    return join_frame(header, {**body, **fields})


def set_body_fields(frame: bytes, **fields: Any) -> bytes:
    """The frame with body fields replaced (a value of ``...`` removes the field)."""
    header, body = split_frame(frame)
    body = {**body, **fields}
    return join_frame(header, {k: v for k, v in body.items() if v is not ...})


def set_op(frame: bytes, op_index: int = 0, **fields: Any) -> bytes:
    """The frame with fields of ``ops[op_index]`` replaced (e.g. ``cid=...``, ``path=...``)."""
    header, body = split_frame(frame)
    ops = [dict(op) for op in body["ops"]]
    ops[op_index].update(fields)
    return join_frame(header, {**body, "ops": ops})
