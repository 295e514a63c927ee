"""DAG-CBOR, strict and canonical, in the two shapes atproto code needs.

* IPLD form: links are :class:`~lairs_etl.atproto.cid.Cid`, bytes are ``bytes``.
* atproto JSON form (what ``listRecords`` shows): ``{"$link": ...}``, ``{"$bytes": ...}``.

Decoding refuses non-canonical encodings (map key order, duplicate keys, non-minimal
integers, indefinite lengths, float16/32, tags other than 42, trailing bytes), so
re-encoding a decoded block gives back the same bytes and the same CID. On top of the
library we enforce the atproto data model: no floats at all, at most
:data:`MAX_DEPTH` nested containers, at most :data:`MAX_BLOCK_SIZE` bytes. All decoder
errors are translated to :class:`~lairs_etl.errors.CodecError`.

Library choice, measured by ``bench/codec.py`` (20,000 Layers-shaped records, 48.5 MB
CAR, 26,671 blocks; libipld 3.5.0 vs cbrrr 1.1.0; best of 5, the two run alternately on
a 2-core machine shared with other jobs, GC paused as ``timeit`` does)::

    step                              libipld   cbrrr   cbrrr/libipld (range over 3 runs)
    CAR -> every block, IPLD form     1.21 s    2.66 s  2.19x  (1.6-2.5x; cbrrr: our framing)
    record blocks -> JSON form        4.09 s    1.74 s  0.42x  (0.31-0.65x; libipld + walk)
    record blocks -> IPLD form        1.09 s    1.52 s  1.40x  (1.4-2.5x)
    encode records from JSON form     1.60 s    0.58 s  0.36x  (0.14-0.36x; libipld + walk)
    encode records from IPLD form     0.28 s    0.50 s  1.79x  (0.6-2.7x, noisy)

We keep **cbrrr**. libipld decodes faster to the IPLD form because it reuses map-key
strings (maps with long keys: 2.1x; MST nodes' one-letter keys: parity), but every path
that matters here goes through the atproto JSON form (fetch, validation, views, publish
CIDs), where cbrrr converts natively and wins 1.5-7x. And libipld is lossy both ways:
it decodes a link to plain ``bytes``, indistinguishable from a byte string, and its
encoder turns any CID-shaped byte string into a link (a different CID). cbrrr is also
stricter (refuses non-minimal integers and float32, which libipld accepts), and its
decoder and encoder are iterative, so hostile nesting cannot exhaust the C stack
(libipld raises ``RecursionError`` at 100,000 levels).

Neither library limits depth or refuses float64: :func:`_check_shape` does, after a
C-speed pre-filter (block length, count of container-header bytes, a ``0xfb`` float
marker) so the Python walk runs only on blocks that could break a limit. Its cost, same
bench: JSON form 1.23x the bare cbrrr call (1.04x with ``max_depth=None``), IPLD form
1.67x. The cyclic GC costs far more (3.0x when left on while decoding all records):
bulk decoders should run under :func:`paused_gc`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cbrrr
from cbrrr import _cbrrr

from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import CodecError

__all__ = [
    "MAX_BLOCK_SIZE",
    "MAX_DEPTH",
    "decode",
    "decode_json_form",
    "decode_pair",
    "decode_schema_checked",
    "encode",
    "encode_json_form",
    "encode_unchecked",
    "paused_gc",
]

MAX_BLOCK_SIZE = 5 * 1024 * 1024
"""Largest DAG-CBOR value accepted (indigo's ``MAX_CBOR_SIZE``; records stay under 1 MiB)."""

MAX_DEPTH = 64
"""Deepest container nesting accepted (indigo recommends 32; we leave headroom)."""

_DECODE_ERRORS = (cbrrr.CbrrrDecodeError, ValueError, TypeError, RecursionError, EOFError, MemoryError)
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, MemoryError)
# Every byte that can open an array or map (major types 4 and 5). A value nested N deep
# holds at least N of them, so counting them bounds the depth without parsing.
_NON_CONTAINER = bytes(b for b in range(256) if not 0x80 <= b <= 0xBF)
_FLOAT64 = b"\xfb"
_Cid = Cid


def encode_unchecked(value: Any) -> bytes:
    """Encode a value of a known, safe shape (MST nodes: bytes, ints, CIDs, None).

    :func:`encode`'s float and depth checks would cost as much as the encoding itself.

    Raises:
        TypeError: a value of a type DAG-CBOR has no encoding for.
    """
    data: bytes = _cbrrr.encode_dag_cbor(value, _Cid, False)
    return data


def _decode_exact(data: bytes, atjson_mode: bool) -> Any:
    """The C decoder, called without ``cbrrr.decode_dag_cbor``'s Python wrapper.

    The wrapper only checks that the whole buffer was consumed, which we do here; skipping
    its frame halves the per-block cost of small blocks (2.5 vs 4.6 µs per MST node),
    and a repository fetch decodes tens of thousands of them.
    """
    value, length = _cbrrr.decode_dag_cbor(data, _Cid, atjson_mode)
    if length != len(data):
        raise ValueError("trailing bytes after the DAG-CBOR value")
    return value


def _plain_strings(value: Any, depth: int) -> Any:
    """``value`` with every ``str`` subclass (keys included) made a plain ``str``.

    Returns ``value`` itself when nothing needed converting.
    """
    if depth < 0:
        raise CodecError("cannot encode as DAG-CBOR: nested too deeply")
    if isinstance(value, str):
        return str(value) if type(value) is not str else value
    if isinstance(value, dict):
        items = [(_plain_strings(k, depth), _plain_strings(v, depth - 1)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list):
        converted = [_plain_strings(v, depth - 1) for v in value]
        return value if all(a is b for a, b in zip(converted, value, strict=True)) else converted
    return value


def encode(value: Any, *, max_depth: int | None = MAX_DEPTH) -> bytes:
    """Encode an IPLD-form value to canonical DAG-CBOR.

    Raises:
        CodecError: unsupported type, float, non-string map key, too deep.
    """
    try:
        data: bytes = _cbrrr.encode_dag_cbor(value, _Cid, False)
    except TypeError as exc:
        # Typed identifiers (Did, Tid, AtUri …) are str subclasses, which the encoder's
        # exact type checks refuse; only this failure path pays for the conversion.
        plain = _plain_strings(value, MAX_DEPTH if max_depth is None else max_depth)
        if plain is value:
            raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc
        return encode(plain, max_depth=max_depth)
    except _ENCODE_ERRORS as exc:
        raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc
    _check_shape(data, value, max_depth, floats=True)
    return data


def decode(data: bytes, *, max_size: int = MAX_BLOCK_SIZE, max_depth: int | None = MAX_DEPTH) -> Any:
    """Decode canonical DAG-CBOR to the IPLD form.

    ``max_depth=None`` skips the nesting check, for blocks this library wrote or
    already checked (floats are still refused).

    Raises:
        CodecError: malformed, non-canonical, float, too large or too deep.
    """
    _check_size(data, max_size)
    try:
        value = _decode_exact(data, False)
    except _DECODE_ERRORS as exc:
        raise CodecError(f"invalid DAG-CBOR: {exc}") from exc
    _check_shape(data, value, max_depth, floats=True)
    return value


def decode_pair(
    data: bytes, *, max_size: int = MAX_BLOCK_SIZE, max_depth: int | None = MAX_DEPTH
) -> tuple[Any, Any]:
    """Decode exactly two DAG-CBOR values written back to back (an event-stream frame).

    ``subscribeRepos`` frames are a header value followed by a body value, with no
    length between them: the first value's encoded length says where the second starts.

    Raises:
        CodecError: either value malformed, non-canonical, float, too deep; the frame too
            large; or bytes after the second value.
    """
    _check_size(data, max_size)
    try:
        first, length = _cbrrr.decode_dag_cbor(data, _Cid, False)
        rest = data[length:]
        second = _decode_exact(rest, False)
    except _DECODE_ERRORS as exc:
        raise CodecError(f"invalid DAG-CBOR frame: {exc}") from exc
    _check_shape(data[:length], first, max_depth, floats=True)
    _check_shape(rest, second, max_depth, floats=True)
    return first, second


def decode_schema_checked(data: bytes, *, max_size: int = MAX_BLOCK_SIZE) -> Any:
    """Decode canonical DAG-CBOR to the IPLD form, for a caller that checks an exact schema.

    Strict and canonical like :func:`decode`, but without its data-model walk (floats,
    depth): a caller that then checks every field's exact type against a fixed schema
    (an MST node: ints, bytes, CIDs, null, one array of flat maps) refuses a float or
    any extra nesting itself. That walk is most of the cost of decoding a small block
    whose CIDs happen to contain a ``0xfb`` byte (over a third of MST nodes).

    Raises:
        CodecError: malformed, non-canonical or too large.
    """
    _check_size(data, max_size)
    try:
        return _decode_exact(data, False)
    except _DECODE_ERRORS as exc:
        raise CodecError(f"invalid DAG-CBOR: {exc}") from exc


def encode_json_form(value: Any, *, max_depth: int | None = MAX_DEPTH) -> bytes:
    """Encode an atproto-JSON-form value (``$link``/``$bytes``) to DAG-CBOR.

    Raises:
        CodecError: unsupported type, float, malformed ``$link``/``$bytes``, too deep.
    """
    try:
        data: bytes = _cbrrr.encode_dag_cbor(value, _Cid, True)
    except TypeError as exc:
        # Typed identifiers (Did, Tid, AtUri …) are str subclasses, which the encoder's
        # exact type checks refuse; only this failure path pays for the conversion.
        plain = _plain_strings(value, MAX_DEPTH if max_depth is None else max_depth)
        if plain is value:
            raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc
        return encode_json_form(plain, max_depth=max_depth)
    except _ENCODE_ERRORS as exc:
        raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc
    _check_shape(data, value, max_depth, floats=False)
    return data


def decode_json_form(
    data: bytes, *, max_size: int = MAX_BLOCK_SIZE, max_depth: int | None = MAX_DEPTH
) -> Any:
    """Decode canonical DAG-CBOR straight to the atproto JSON form.

    ``max_depth=None`` skips the nesting check (then this costs no more than the bare
    library call), for blocks this library wrote or already checked.

    Raises:
        CodecError: malformed, non-canonical, float, reserved ``$link``/``$bytes`` key,
            too large or too deep.
    """
    # The helpers inlined: a repository fetch calls this once per record.
    size = len(data)
    if size > max_size:
        raise CodecError(f"DAG-CBOR value of {size} bytes exceeds the {max_size}-byte limit")
    try:
        value, length = _cbrrr.decode_dag_cbor(data, _Cid, True)
    except _DECODE_ERRORS as exc:
        raise CodecError(f"invalid DAG-CBOR: {exc}") from exc
    if length != size:
        raise CodecError("invalid DAG-CBOR: trailing bytes after the value")
    # The library refuses floats in this form; only the depth can need the walk.
    if max_depth is not None and size > max_depth and len(data.translate(None, _NON_CONTAINER)) > max_depth:
        _check_shape(data, value, max_depth, floats=False)
    return value


@contextmanager
def paused_gc(*, promote: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while decoding many blocks.

    Decoded values are trees, so the collections that thousands of new dicts and lists
    trigger find nothing, yet each one walks the growing heap (3x the decode time over a
    20,000-record repository). Safe to nest: only the use that found the collector
    enabled turns it back on. Across threads it may come back on early, which costs
    only speed.

    ``promote`` is for bulk loads whose objects all outlive the pause (a fetch's
    result): everything allocated meanwhile still sits in the youngest generation, so
    the first collection after the pause would scan all of it to find nothing (0.11 s
    after a 20,000-record fetch). Instead every tracked object is moved to the oldest
    generation unscanned (``gc.freeze()`` then ``gc.unfreeze()``); garbage cycles among
    them wait for the next full collection. Skipped when the program froze objects
    itself, which an unfreeze would undo.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if promote and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _check_size(data: bytes, max_size: int) -> None:
    if len(data) > max_size:
        raise CodecError(f"DAG-CBOR value of {len(data)} bytes exceeds the {max_size}-byte limit")


def _check_shape(data: bytes, value: Any, max_depth: int | None, *, floats: bool) -> None:
    """Reject floats and over-deep nesting; walks ``value`` only when ``data`` could hold either.

    ``floats`` is False for the JSON form, where the library already refuses them. The
    walk goes level by level with exact type checks (the decoder makes plain
    ``dict``/``list``); on a block it cannot skip it costs about half the decode.
    """
    check_floats = floats and _FLOAT64 in data
    if max_depth is None:
        if not check_floats:
            return
        max_depth = 1 << 30
    elif not check_floats and (
        len(data) <= max_depth or len(data.translate(None, _NON_CONTAINER)) <= max_depth
    ):
        return
    level = [value]
    depth = 1
    while level:
        if depth > max_depth and not all(_is_json_leaf(node) for node in level):
            raise CodecError(f"DAG-CBOR value nested deeper than {max_depth} levels")
        deeper: list[Any] = []
        push = deeper.append
        for node in level:
            kind = type(node)
            if kind is float:
                raise CodecError("floats are not allowed in the atproto data model")
            if kind is dict or kind is list:
                for child in node.values() if kind is dict else node:
                    child_kind = type(child)
                    if child_kind is dict or child_kind is list:
                        push(child)
                    elif child_kind is float:
                        raise CodecError("floats are not allowed in the atproto data model")
        level = deeper
        depth += 1


def _is_json_leaf(node: object) -> bool:
    """``{"$link": ...}`` and ``{"$bytes": ...}`` stand for scalars, so they add no depth."""
    return isinstance(node, dict) and len(node) == 1 and ("$link" in node or "$bytes" in node)
