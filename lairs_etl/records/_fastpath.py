"""Rust-regex fast paths for string formats: common valid values never reach Python.

Each pattern accepts only values the exact (Python) check also accepts, and is anchored
and free of look-arounds so pydantic-core's Rust regex engine runs it. Patterns are
ASCII-only, so a character count equals the UTF-8 byte count and the lexicon's byte
length limits can be handed to pydantic-core as plain ``min_length``/``max_length``.
``FAST_CAPS`` bounds the length where the reference has limits the pattern cannot express
(e.g. a DID of at most 2048 characters inside an AT-URI): past it, the exact check runs.
"""

from __future__ import annotations

__all__ = ["ASCII_PATTERN", "FAST_CAPS", "FAST_PATTERNS"]

ASCII_PATTERN = r"^[\x00-\x7F]*$"

_DID = r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]"
_HANDLE = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_NSID = (
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}"
)
_RKEY = r"[a-zA-Z0-9_~:-][a-zA-Z0-9_~.:-]{0,511}"  # not starting with "." rules out "." and ".."

FAST_PATTERNS: dict[str, str] = {
    "at-identifier": rf"^(?:{_DID}|{_HANDLE})$",
    "at-uri": rf"^at://(?:{_DID}|{_HANDLE})(?:/{_NSID}(?:/{_RKEY})?)?$",
    # CIDv1 dag-cbor / raw with a sha2-256 digest, base32: the atproto forms.
    "cid": r"^baf[yk]rei[a-h][a-z2-7]{50}[aiqy]$",
    # Years 1000-8999 cannot leave 0..9999 under any offset; "-hh:mm" goes the slow way.
    "datetime": (
        r"^[1-8][0-9]{3}-(?:0[1-9]|1[012])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]"
        r":[0-5][0-9](?:\.[0-9]+)?(?:Z|\+(?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    ),
    "did": rf"^{_DID}$",
    "handle": rf"^{_HANDLE}$",
    "language": r"^[a-z]{2,3}(?:-[A-Z]{2})?$",
    "nsid": rf"^{_NSID}$",
    "record-key": rf"^{_RKEY}$",
    "tid": r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$",
    "uri": r"^[A-Za-z0-9_]+:(?://)?[!-.0-~][!-~]*$",
}

FAST_CAPS: dict[str, int] = {
    "at-identifier": 253,
    "at-uri": 317,
    "datetime": 64,
    "did": 2048,
    "handle": 253,
    "nsid": 317,
    "record-key": 512,
}
