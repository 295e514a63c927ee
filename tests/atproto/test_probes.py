"""Probes: listReposByCollection against a small lexicon-following relay on loopback,
and malformed answers (MockTransport) that a real server would not send."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lairs_etl.atproto.probes import describe_repo, get_latest_commit, list_repos, list_repos_by_collection
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import TransportError, XrpcError

EXPR = "pub.layers.expression.expression"
ANNO = "pub.layers.annotation.annotationLayer"
CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"


def _did(i: int) -> str:
    return "did:plc:" + f"{i:04d}".translate(str.maketrans("0123456789", "abcdefghij")) + "a" * 20


# actor i has EXPR when i % 2 == 0 and ANNO when i % 3 == 0
ACTORS = {_did(i): {c for c, m in ((EXPR, 2), (ANNO, 3)) if i % m == 0} for i in range(25)}


class _Relay(BaseHTTPRequestHandler):
    """com.atproto.sync.listReposByCollection as the published lexicon states it:
    ``collection`` (repeatable), ``limit`` 1..2000 default 500, opaque ``cursor``."""

    calls: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        type(self).calls.append(query)
        if url.path != "/xrpc/com.atproto.sync.listReposByCollection":
            return self._json(404, {"error": "MethodNotImplemented", "message": "no such method"})
        limit = int(query.get("limit", ["500"])[0])
        if not 1 <= limit <= 2000:
            return self._json(400, {"error": "InvalidRequest", "message": "limit out of range"})
        wanted = set(query.get("collection", []))
        after = query.get("cursor", [""])[0]
        dids = sorted(d for d, cs in ACTORS.items() if d > after and (not wanted or cs & wanted))
        page = dids[:limit]
        body: dict[str, object] = {"repos": [{"did": d} for d in page]}
        if len(dids) > limit:
            body["cursor"] = page[-1]
        return self._json(200, body)

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def relay() -> Iterator[str]:
    _Relay.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_list_repos_by_collection_pages_through_the_relay(relay: str) -> None:
    with XrpcClient(allow_private_hosts=True) as client:
        dids = list(list_repos_by_collection(client, relay, ANNO, page_size=3))
    assert dids == sorted(d for d, cs in ACTORS.items() if ANNO in cs)
    assert len(dids) == 9
    assert len(_Relay.calls) == 3  # 3 + 3 + 3, the last page carries no cursor
    assert all(call["collection"] == [ANNO] for call in _Relay.calls)


def test_list_repos_by_collection_default_page_size_is_accepted(relay: str) -> None:
    with XrpcClient(allow_private_hosts=True) as client:
        assert len(list(list_repos_by_collection(client, relay, EXPR))) == 13
    assert len(_Relay.calls) == 1


def test_relay_on_loopback_is_refused_by_default(relay: str) -> None:
    from lairs_etl.errors import UnsafeEndpointError

    with XrpcClient() as client, pytest.raises(UnsafeEndpointError):
        list(list_repos_by_collection(client, relay, EXPR))
    assert _Relay.calls == []


# -- malformed answers ------------------------------------------------------------


def _client(*bodies: object) -> XrpcClient:
    answers = iter(bodies)
    return XrpcClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=next(answers))))


PDS = "https://pds.example.com"


@pytest.mark.parametrize(
    "body",
    [[], {"cid": CID}, {"cid": "not-a-cid", "rev": "3lbxzqtnqxs2a"}, {"cid": CID, "rev": "not a tid"}],
)
def test_get_latest_commit_rejects_malformed_answers(body: object) -> None:
    with _client(body) as client, pytest.raises(TransportError) as info:
        get_latest_commit(client, PDS, _did(1))
    assert not isinstance(info.value, XrpcError)


def test_describe_repo_for_another_did_is_refused() -> None:
    body = {"did": _did(2), "handle": "x.test", "collections": [], "handleIsCorrect": True, "didDoc": {}}
    with _client(body) as client, pytest.raises(TransportError):
        describe_repo(client, PDS, _did(1))


def test_list_repos_skips_bad_rows_and_stops_on_a_repeated_cursor() -> None:
    good = {"did": _did(1), "head": CID, "rev": "3lbxzqtnqxs2a"}
    inactive = {"did": _did(2), "head": CID, "rev": "3lbxzqtnqxs2b", "active": False, "status": "takendown"}
    page = {
        "cursor": "c1",
        "repos": [good, {"did": "nonsense", "head": CID, "rev": "3lbxzqtnqxs2a"}, inactive],
    }
    with _client(page, page, page) as client:
        rows = list(list_repos(client, PDS))
    assert [(r.did, r.active, r.status) for r in rows] == [
        (_did(1), True, None),
        (_did(2), False, "takendown"),
    ] * 2
    assert (rows[0].head.encode(), rows[0].rev) == (CID, "3lbxzqtnqxs2a")
