"""MST keys: which layer a key lives on, and which strings may be keys at all.

A key's layer is the number of leading zero bits of SHA-256(key), counted in 2-bit
steps (fanout 4). Keys are repository paths ``collection/rkey``; the spec keeps them
ASCII, so the ``str`` order used everywhere here equals the byte order the spec sorts by.
"""

from __future__ import annotations

import hashlib
import re

from lairs_etl.errors import InvalidIdentifier

__all__ = ["KEY_PATTERN", "MAX_KEY_LENGTH", "check_key", "common_prefix_len", "is_valid_key", "key_layer"]

MAX_KEY_LENGTH = 1024
"""The reference implementation's limit on a whole repository path, in bytes."""

# Same character set as the reference ``isValidMstKey``: two non-empty segments, plus
# the spec's rule that ``.`` and ``..`` are never a segment. The collection segment is
# deliberately not held to NSID syntax: the network's interop vectors (and older
# repositories) use keys such as ``A0/374913``.
KEY_PATTERN = r"(?!\.\.?/)[A-Za-z0-9_~.:\-]+/(?!\.\.?\Z)[A-Za-z0-9_~.:\-]+"
"""The key syntax as a regular expression (ASCII only), for :func:`re.fullmatch`."""
_KEY_RE = re.compile(KEY_PATTERN)
_sha256 = hashlib.sha256


def key_layer(key: str | bytes) -> int:
    """The MST layer of ``key``: leading zero bits of its SHA-256, divided by two."""
    raw = key.encode() if isinstance(key, str) else key
    return (256 - int.from_bytes(_sha256(raw).digest(), "big").bit_length()) >> 1


def is_valid_key(key: str) -> bool:
    """True when ``key`` is a well-formed ``collection/rkey`` repository path."""
    return len(key) <= MAX_KEY_LENGTH and _KEY_RE.fullmatch(key) is not None


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid MST key.

    Raises:
        InvalidIdentifier: not a ``collection/rkey`` path in the allowed ASCII set.
    """
    if not isinstance(key, str) or not is_valid_key(key):
        raise InvalidIdentifier(f"not a valid MST key: {key!r:.120}", kind="mst key", value=str(key))
    return key


def common_prefix_len(left: bytes, right: bytes) -> int:
    """Length of the longest common prefix of two byte strings.

    Done with one big-integer XOR rather than a Python loop over bytes, because the
    builder calls this once per key and TID-keyed paths share ~30-byte prefixes.
    """
    n = len(left) if len(left) < len(right) else len(right)
    if n == 0:
        return 0
    diff = int.from_bytes(left[:n], "big") ^ int.from_bytes(right[:n], "big")
    if diff == 0:
        return n
    return n - 1 - ((diff.bit_length() - 1) >> 3)
