"""Identifier value types: parse once, refuse what the atproto specs refuse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lairs_etl.atproto.syntax import AtUri, Did, Handle, Nsid, RecordKey, Tid
from lairs_etl.errors import InvalidIdentifier

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (
            Did,
            [DID, "did:web:example.com", "did:web:localhost%3A8080"],
            ["did:PLC:x", "did:plc:", "did:plc:a\n", "plc:x"],
        ),
        (
            Handle,
            ["alice.test", "A.Example.COM", "xn--ls8h.la"],
            ["alice", "-a.com", "a..com", "a.com.", "a_b.com"],
        ),
        (
            Nsid,
            ["pub.layers.expression.expression", "com.example.fooBar"],
            ["pub.layers", "pub..x.y", "pub.layers.1abc"],
        ),
        (RecordKey, ["3jzfcijpj2z2a", "self", "a:b~c_d.e-f"], [".", "..", "", "a/b", "a b"]),
        (Tid, ["3jzfcijpj2z2a"], ["3jzfcijpj2z2", "kjzfcijpj2z2a", "3JZFCIJPJ2Z2A"]),
    ],
)
def test_each_identifier_accepts_valid_and_refuses_invalid(
    kind: type[str], good: list[str], bad: list[str]
) -> None:
    for value in good:
        assert kind(value) == (value.lower() if kind is Handle else value)
    for value in bad:
        with pytest.raises(InvalidIdentifier) as info:
            kind(value)
        assert info.value.value == value
        assert isinstance(info.value, ValueError)


def test_an_at_uri_is_split_once_into_typed_parts() -> None:
    uri = AtUri(f"at://{DID}/pub.layers.expression.expression/3jzfcijpj2z2a")
    assert (uri.did, uri.collection, uri.rkey) == (DID, "pub.layers.expression.expression", "3jzfcijpj2z2a")
    assert isinstance(uri.did, Did)
    assert isinstance(uri.collection, Nsid)
    assert isinstance(uri.rkey, RecordKey)
    assert AtUri.for_record(DID, "pub.layers.expression.expression", "3jzfcijpj2z2a") == uri
    assert isinstance(AtUri.for_record(DID, "pub.layers.expression.expression", "x").rkey, RecordKey)


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/x",
        f"at://{DID}/pub.layers.expression.expression/a/b",
        f"at://{DID}/pub.layers.expression.expression/",
        f"at://{DID}/not-an-nsid/x",
        f"at://{DID}/pub.layers.expression.expression/bad key",
        f"at://{DID}/pub.layers.expression.expression/x?q=1",
        f"at://{DID}/pub.layers.expression.expression/x#frag",
    ],
)
def test_malformed_at_uris_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier):
        AtUri(value)


def test_a_handle_authority_is_not_a_did() -> None:
    uri = AtUri("at://alice.test/pub.layers.expression.expression/x")
    assert uri.authority == "alice.test"
    with pytest.raises(InvalidIdentifier):
        _ = uri.did
    with pytest.raises(InvalidIdentifier):
        AtUri.for_record("alice.test", "pub.layers.expression.expression", "x")


@given(st.from_regex(r"\A[a-zA-Z0-9_~.:-]{1,40}\Z"))
def test_for_record_and_parsing_agree(rkey: str) -> None:
    if rkey in (".", ".."):
        with pytest.raises(InvalidIdentifier):
            AtUri.for_record(DID, "pub.layers.corpus.corpus", rkey)
        return
    built = AtUri.for_record(DID, "pub.layers.corpus.corpus", rkey)
    parsed = AtUri(str(built))
    assert (parsed.did, parsed.collection, parsed.rkey) == (built.did, built.collection, built.rkey)


_PATHS = st.one_of(
    st.text(alphabet="ab.:/_~-1", max_size=30),
    st.builds(
        "{}/{}".format,
        st.sampled_from(["pub.layers.corpus.corpus", "pub.layers.expression.expression", "a.b", "x"]),
        st.from_regex(r"\A[a-zA-Z0-9_~.:/-]{0,20}\Z"),
    ),
)


@given(_PATHS)
def test_for_path_takes_exactly_the_record_paths_parsing_takes(path: str) -> None:
    """``collection/rkey`` (an MST key, a firehose op path): the URI parsing would give, or refused."""
    try:
        parsed: AtUri | None = AtUri(f"at://{DID}/{path}")
    except InvalidIdentifier:
        parsed = None
    if parsed is None or parsed.rkey is None:  # not a record's address (no rkey)
        with pytest.raises(InvalidIdentifier):
            AtUri.for_path(DID, path)
        return
    built = AtUri.for_path(DID, path)
    assert built == parsed
    assert (built.did, built.collection, built.rkey) == (parsed.did, parsed.collection, parsed.rkey)


def test_for_path_names_a_path_without_a_collection() -> None:
    with pytest.raises(InvalidIdentifier, match="record path"):
        AtUri.for_path(DID, "3jzfcijpj2z2a")
