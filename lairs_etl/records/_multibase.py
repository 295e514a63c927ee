"""CID string parsing as ``multiformats``' ``CID.parse`` does it (the reference's ``cid`` format).

Mirrors multiformats 13 (what ``@atproto/lexicon`` resolves): base32 (``b``), base36
(``k``) and base58btc (``z``, or a bare ``Q…`` CIDv0) multibase, then the varint layout
check of ``CID.decode`` (version 0 or 1, complete multihash, no trailing bytes). It checks
syntax only: any codec and hash function are accepted, as the reference does.
"""

from __future__ import annotations

import math

__all__ = ["is_cid_string", "is_lex_link"]

_MAX_CID_STRING = 128  # parseCidString's bound (quadratic base decoders)
_MAX_LINK_STRING = 2048  # parseLexLink's bound
_B32 = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz234567")}
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B36_MAP = {c: i for i, c in enumerate(_B36)}
_B58_MAP = {c: i for i, c in enumerate(_B58)}


def is_cid_string(value: str) -> bool:
    """True when ``CID.parse(value)`` succeeds and ``value`` is at most 128 characters."""
    return len(value) <= _MAX_CID_STRING and _parses(value)


def is_lex_link(value: str) -> bool:
    """True for a ``$link`` string the reference's JSON decoder turns into a CID."""
    return 0 < len(value) <= _MAX_LINK_STRING and is_cid_string(value)


def _parses(source: str) -> bool:
    if not source:
        return False
    prefix = source[0]
    if prefix == "Q":
        raw = _base_x(source, _B58_MAP, 58)
    elif prefix == "z":
        raw = _base_x(source[1:], _B58_MAP, 58)
    elif prefix == "b":
        raw = _base32(source[1:])
    elif prefix == "k":
        raw = _base_x(source[1:], _B36_MAP, 36)
    else:
        return False
    if raw is None:
        return False
    version = _layout_version(raw)
    return version == 1 or (version == 0 and prefix == "Q")


def _base32(text: str) -> bytes | None:
    end = len(text)
    while end and text[end - 1] == "=":
        end -= 1
    out = bytearray()
    bits = buffer = 0
    for char in text[:end]:
        value = _B32.get(char)
        if value is None:
            return None
        buffer = ((buffer << 5) | value) & 0xFFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append(0xFF & (buffer >> bits))
    if bits >= 5 or (0xFF & (buffer << (8 - bits))) != 0:
        return None
    return bytes(out)


def _base_x(text: str, alphabet: dict[str, int], base: int) -> bytes | None:
    """base-x ``decodeUnsafe``, literally: JavaScript UTF-16 units, NaN quirk included.

    A unit above 0xFF is outside base-x's lookup table; JavaScript then computes with
    ``undefined`` (NaN), which zeroes one output byte instead of failing. Kept, so the
    verdict on such strings agrees with the reference.
    """
    raw = text.encode("utf-16-le", "surrogatepass")
    units = [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]
    if not units:
        return b""
    if units[0] == 0x20:
        return None
    leader = ord(next(iter(alphabet)))
    table = {ord(char): value for char, value in alphabet.items()}
    psz = zeroes = length = 0
    while psz < len(units) and units[psz] == leader:
        zeroes += 1
        psz += 1
    size = int((len(units) - psz) * (math.log(base) / math.log(256)) + 1) & 0xFFFFFFFF
    b256 = [0] * size
    while psz < len(units):
        unit = units[psz]
        if unit <= 0xFF and unit not in table:
            return None
        carry: int | None = table.get(unit)  # None plays JavaScript's NaN
        i, it3 = 0, size - 1
        while (carry is None or carry != 0 or i < length) and it3 != -1:
            if carry is None:
                b256[it3], carry = 0, 0
            else:
                carry += base * b256[it3]
                b256[it3], carry = carry % 256, carry // 256
            it3 -= 1
            i += 1
        if carry:
            return None  # "Non-zero carry"
        length = i
        psz += 1
    it4 = size - length
    while it4 != size and b256[it4] == 0:
        it4 += 1
    return b"\x00" * zeroes + bytes(b256[it4:])


def _varint(raw: bytes, offset: int) -> tuple[int, int] | None:
    value = shift = 0
    while offset < len(raw) and shift <= 49:
        byte = raw[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        if byte < 0x80:
            return value, offset
        shift += 7
    return None


def _layout_version(raw: bytes) -> int | None:
    """The CID version when ``raw`` has a complete CID layout and nothing after it."""
    first = _varint(raw, 0)
    if first is None:
        return None
    version, offset = first
    if version == 18:  # a bare multihash: CIDv0
        version, offset = 0, 0
    else:
        codec = _varint(raw, offset)
        if codec is None:
            return None
        offset = codec[1]
    if version not in (0, 1):
        return None
    code = _varint(raw, offset)
    if code is None:
        return None
    size = _varint(raw, code[1])
    if size is None:
        return None
    return version if size[1] + size[0] == len(raw) else None
