"""String values per lexicon format: valid ones, clearly bad ones, and edge cases.

The edge cases are values whose verdict is subtle (the reference's datetime check is
lenient, at-uris may carry a JSON-pointer fragment, CIDv0 parses): the differential test
lets the reference decide them instead of asserting an expectation.
"""

from __future__ import annotations

import hashlib
import string

from hypothesis import strategies as st

from lairs_etl.atproto.cid import cid_for_dag_cbor, cid_for_raw

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_TID_FIRST = "234567abcdefghij"
_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10).map(lambda s: "a" + s)
_NSIDS = ("pub.layers.expression.expression", "pub.layers.annotation.annotationLayer", "com.example.fooBar")


def tids() -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_TID_FIRST),
        st.text(_B32, min_size=12, max_size=12),
    )


def dids() -> st.SearchStrategy[str]:
    plc = st.text(_B32, min_size=24, max_size=24).map(lambda s: f"did:plc:{s}")
    web = st.lists(_LABEL, min_size=2, max_size=3).map(lambda ls: "did:web:" + ".".join(ls))
    return st.one_of(plc, web)


def handles() -> st.SearchStrategy[str]:
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]),
        st.lists(_LABEL, min_size=1, max_size=3),
        st.sampled_from(["com", "org", "test", "social"]),
    )


def nsids() -> st.SearchStrategy[str]:
    return st.sampled_from(_NSIDS)


def record_keys() -> st.SearchStrategy[str]:
    return st.one_of(
        tids(),
        st.just("self"),
        st.text(string.ascii_letters + string.digits + "_~.:-", min_size=3, max_size=12),
    )


def at_uris() -> st.SearchStrategy[str]:
    authority = st.one_of(dids(), handles())
    full = st.builds(lambda a, c, r: f"at://{a}/{c}/{r}", authority, nsids(), tids())
    short = st.builds(lambda a, c: f"at://{a}/{c}", authority, nsids())
    return st.one_of(full, full, full, short)


def cids() -> st.SearchStrategy[str]:
    return st.builds(
        lambda data, raw: (cid_for_raw(data) if raw else cid_for_dag_cbor(data)).encode(),
        st.binary(max_size=16),
        st.booleans(),
    )


def datetimes() -> st.SearchStrategy[str]:
    def fmt(year: int, month: int, day: int, hms: tuple[int, int, int], frac: str, tz: str) -> str:
        return f"{year:04d}-{month:02d}-{day:02d}T{hms[0]:02d}:{hms[1]:02d}:{hms[2]:02d}{frac}{tz}"

    return st.builds(
        fmt,
        st.integers(1000, 9999),
        st.integers(1, 12),
        st.integers(1, 28),
        st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
        st.sampled_from(["", ".000", ".5", ".123456"]),
        st.sampled_from(["Z", "Z", "+00:00", "+05:30", "-08:00"]),
    )


def uris() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda h, p: f"https://{h}/{p}", handles(), st.text(string.ascii_lowercase, max_size=8)),
        st.sampled_from(
            ["urn:isbn:0451450523", "mailto:someone@example.org", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"]
        ),
    )


def languages() -> st.SearchStrategy[str]:
    return st.sampled_from(["en", "en-US", "fr", "zh-Hant", "pt-BR", "de-CH-1996"])


VALID: dict[str, st.SearchStrategy[str]] = {
    "at-identifier": st.one_of(dids(), handles()),
    "at-uri": at_uris(),
    "cid": cids(),
    "datetime": datetimes(),
    "did": dids(),
    "handle": handles(),
    "language": languages(),
    "nsid": nsids(),
    "record-key": record_keys(),
    "tid": tids(),
    "uri": uris(),
}

_GOOD_CID = cid_for_raw(b"lairs").encode()
_GOOD_URI = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/pub.layers.expression.expression/3kabcdefghijk"

# Values any reading of the spec rejects; the trailing "\n" ones catch a Python "$".
BAD: dict[str, tuple[str, ...]] = {
    "datetime": (
        "2024-01-01",
        "yesterday",
        "",
        "2024-13-01T00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00-00:00",
        "2024-01-01T00:00:00Z\n",
        "+002024-01-01T00:00:00Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:00.Z",
    ),
    "at-uri": (
        "https://example.com/x",
        "at://did:plc:abc/x/y",
        "at://did:plc:abc/pub.layers.x.y/a?b=c",
        "at://did:plc:abc/pub.layers.x.y/",
        "at://did:plc:abc/pub.layers.x.y/a/b",
        "at://did:plc:abc//1",
        _GOOD_URI + "\n",
        "at://did:plc:abc/pub.layers.x.y/3k#foo",
        "at://alice.example.123/pub.layers.x.y/1",
        "at://",
        "at://did:plc:abc/pub.layers.x.y/.",
        "",
    ),
    "did": ("did:PLC:abc", "did:plc:", "plc:abc", "did:plc:abc\n", "did:plc:ab cd", "did:plc:abc%", ""),
    "handle": ("alice", "-alice.example.com", "alice.example.123", "alice.example.com\n", "alice..com", ""),
    "at-identifier": ("alice", "did:plc:", "alice.example.123", "alice.example.com\n", "did:plc:abc\n", ""),
    "cid": ("bafy", "not-a-cid", "", "Qm123", _GOOD_CID + "\n", "zzzz", _GOOD_CID[:-3]),
    "uri": ("no scheme here", "", "https:// space", "/relative/path", "https://example.org\n", "://x"),
    "nsid": ("pub", "pub.layers", "1pub.layers.x", "pub.layers.x-y", "pub.layers.x\n", ""),
    "language": ("english!", "", "en_US", "en\n", "123"),
    "tid": ("3kabc", "1aaaaaaaaaaaa", "3KABCDEFGHIJK", "3kabcdefghijk\n", ""),
    "record-key": (".", "..", "a/b", "a b", "", "k\n"),
}

# Values where validators plausibly differ; the reference decides.
EDGE: dict[str, tuple[str, ...]] = {
    "datetime": (
        "2024-01-01T00:00:00",
        "2024-02-30T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "20240101T000000Z",
        "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00,5Z",
        "0000-01-01T00:00:00Z",
        "2024-01-01T23:59:60Z",
        "1985-04-12T23:20:50.123+01:45",
        "2024-01-01T00:00:00.1234567890Z",
    ),
    "at-uri": (
        _GOOD_URI + "#/foo",
        "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        "at://Alice.Example.COM/pub.layers.x.y/1",
        "at://did:web:localhost%3A3000/pub.layers.x.y/1",
        _GOOD_URI + "#/%41",
        _GOOD_URI + "#/%FF",
    ),
    "did": ("did:web:localhost%3A3000", "did:plc:ABCDEFGHIJKLMNOPQRSTUVWX", "did:x:y"),
    "handle": ("ALICE.EXAMPLE.COM", "a.b", "xn--bcher-kva.example"),
    "at-identifier": ("ALICE.EXAMPLE.COM", "did:x:y"),
    "cid": (
        "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU",
        _GOOD_CID.upper(),
        "b" + hashlib.sha256().hexdigest(),
    ),
    "uri": ("x:y", "urn:isbn:0451450523", "https://exa mple.org"),
    "nsid": ("com.example.x", "a.b.c"),
    "language": ("i-klingon", "x-private"),
    "tid": ("jzzzzzzzzzzzz",),
    "record-key": ("self", "~"),
}
