"""A scripted hostile peer on loopback: one ``did:web`` actor whose host is also its PDS.

:class:`HostilePeer` serves ``/.well-known/did.json`` and the XRPC endpoints a fetch
uses, for an actor with a real, signed repository (so a well-behaved peer is fetched
and verified like any PDS), then misbehaves as its ``behaviour`` says: hostile JSON,
huge integers, bad ``Retry-After``, slow or endless bodies, cycling cursors,
compression bombs, junk blocks, a metadata-address PDS. Every byte stays on loopback;
the DID is ``did:web:localhost%3A<port>``, the only ``did:web`` form that may carry a
port (and only with ``allow_private_hosts``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import threading
import time
import zlib
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import write_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor, cid_for_raw
from lairs_etl.atproto.commit import sign_commit
from lairs_etl.atproto.crypto import generate_private_key, multikey
from lairs_etl.atproto.mst.build import build
from lairs_etl.atproto.syntax import Did, Tid

EXPRESSION = "pub.layers.expression.expression"
BEHAVIOURS = (
    "well-behaved",
    "deep-did-doc",
    "huge-int-did-doc",
    "gzip-bomb-did-doc",
    "metadata-pds",
    "deep-describe",
    "deep-list-records",
    "huge-int-list-records",
    "nan-retry-after",
    "slow-body",
    "slow-headers",
    "cycling-cursors",
    "endless-cursors",
    "gzip-bomb-car",
    "gzip-bomb-json",
    "unreferenced-blocks",
    "garbage-stream",
)
_SYNC = "/xrpc/com.atproto.sync."
_MIB = 1 << 20


def _record(i: int, padding: int = 0) -> dict[str, Any]:
    value: dict[str, Any] = {
        "$type": EXPRESSION,
        "id": f"e{i}",
        "kind": "document",
        "text": f"expression {i} " + "x" * padding,
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    return value


@cache
def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(_MIB)
    return b"".join([*(compressor.compress(zeros) for _ in range(size // _MIB)), compressor.flush()])


def deep_json(levels: int = 10_000) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


class HostilePeer:
    """One actor, its did:web host and its PDS, misbehaving as ``behaviour`` says.

    ``junk_mib`` sizes the unreferenced blocks (``unreferenced-blocks``); ``sent`` counts
    the body bytes the streaming behaviours managed to send before the client hung up.
    """

    def __init__(self, behaviour: str, *, records: int = 3, junk_mib: int = 256) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.junk_mib = junk_mib
        self.sent = 0
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.peer = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.did = Did(f"did:web:localhost%3A{self.port}")
        self.url = f"http://127.0.0.1:{self.port}"
        self._key = generate_private_key("k256")
        self.records = {f"{EXPRESSION}/3kaaaaaaaa{i:03d}": _record(i) for i in range(records)}
        self._build()
        if "gzip-bomb" in behaviour:  # built now, not while a client's deadline runs
            gzip_bomb(64 * _MIB)
            gzip_bomb(256 * _MIB)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def _build(self) -> None:
        blocks: dict[Cid, bytes] = {}
        pairs = []
        for key, value in sorted(self.records.items()):
            block = cbor.encode_json_form(value)
            cid = cid_for_dag_cbor(block)
            blocks[cid] = block
            pairs.append((key, cid))
        tree = build(pairs)
        blocks.update(tree.blocks)
        self.head, commit = sign_commit(self.did, tree.root, Tid("3kaaaaaaaaaa2"), None, self._key)
        blocks[self.head] = commit
        self.blocks = blocks
        sink = io.BytesIO()
        write_car(
            sink, [self.head], [(self.head, commit), *((c, b) for c, b in blocks.items() if c != self.head)]
        )
        self.car = sink.getvalue()

    def did_document(self) -> dict[str, Any]:
        endpoint = "http://169.254.169.254" if self.behaviour == "metadata-pds" else self.url
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": self.did,
            "alsoKnownAs": [],
            "verificationMethod": [
                {
                    "id": f"{self.did}#atproto",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": multikey(self._key.public_key),
                }
            ],
            "service": [
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": endpoint}
            ],
        }

    def list_page(self, cursor: str | None) -> dict[str, Any]:
        items = sorted(self.records.items())
        return {
            "records": [
                {
                    "uri": f"at://{self.did}/{key}",
                    "cid": cid_for_dag_cbor(cbor.encode_json_form(value)).encode(),
                    "value": value,
                }
                for key, value in items
            ]
        }

    def padded_page(self, page: int) -> dict[str, Any]:
        """100 records of 40 KB each, valid and CID-correct: only their number is hostile."""
        out = []
        for n in range(100):
            value = _record(page * 100 + n, padding=40_000)
            cid = cid_for_dag_cbor(cbor.encode_json_form(value))
            out.append(
                {
                    "uri": f"at://{self.did}/{EXPRESSION}/3kp{page:05d}{n:04d}",
                    "cid": cid.encode(),
                    "value": value,
                }
            )
        return {"records": out}

    def junk_blocks(self) -> Iterator[bytes]:
        """CAR sections of distinct 1 MiB raw blocks that nothing references."""
        body = bytearray(_MIB)
        for n in range(self.junk_mib):
            body[:8] = n.to_bytes(8, "big")
            data = bytes(body)
            cid = bytes(cid_for_raw(data))
            yield _varint(len(cid) + len(data)) + cid + data

    def __enter__(self) -> HostilePeer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Handler(BaseHTTPRequestHandler):
    peer: HostilePeer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        peer: HostilePeer = self.server.peer  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        peer.requests.append(url.path)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a budget made the client hang up
            self._route(peer, url.path, query)

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: object, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _stream(
        self, peer: HostilePeer, chunks: Iterator[bytes], content_type: str, pause: float = 0.0
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
            peer.sent += len(chunk)
            if pause:
                time.sleep(pause)

    def _route(self, peer: HostilePeer, path: str, query: dict[str, str]) -> None:
        behaviour = peer.behaviour
        if path == "/.well-known/did.json":
            if behaviour == "deep-did-doc":
                return self._send(200, deep_json())
            if behaviour == "huge-int-did-doc":
                doc = json.dumps(peer.did_document())
                return self._send(200, (doc[:-1] + ', "n": ' + "9" * 5000 + "}").encode())
            if behaviour == "gzip-bomb-did-doc":
                return self._send(200, gzip_bomb(64 * _MIB), content_encoding="gzip")
            return self._json(peer.did_document())
        unsupported = behaviour in (
            "deep-describe",
            "deep-list-records",
            "huge-int-list-records",
            "cycling-cursors",
            "endless-cursors",
            "gzip-bomb-json",
        )
        if path.startswith(_SYNC) and unsupported:
            return self._json({"error": "MethodNotImplemented", "message": "no sync here"}, 501)
        if behaviour == "nan-retry-after" and path.startswith("/xrpc/"):
            return self._send(429, b'{"error": "RateLimitExceeded"}', retry_after="nan")
        if path == "/xrpc/com.atproto.repo.describeRepo":
            if behaviour == "deep-describe":
                return self._send(200, deep_json())
            return self._json({"did": peer.did, "handle": "handle.invalid", "collections": [EXPRESSION]})
        if path == "/xrpc/com.atproto.repo.listRecords":
            return self._list_records(peer, query)
        if path == "/xrpc/com.atproto.sync.getRepo":
            return self._get_repo(peer)
        if path == "/xrpc/com.atproto.sync.getLatestCommit":
            return self._json({"cid": peer.head.encode(), "rev": "3kaaaaaaaaaa2"})
        if path == "/xrpc/com.atproto.sync.getBlocks":
            wanted = parse_qs(urlsplit(self.path).query).get("cids", [])
            blocks = [(c, b) for c, b in peer.blocks.items() if c.encode() in wanted]
            sink = io.BytesIO()
            write_car(sink, [], blocks)
            return self._send(200, sink.getvalue(), "application/vnd.ipld.car")
        return self._json({"error": "MethodNotImplemented"}, 501)

    def _list_records(self, peer: HostilePeer, query: dict[str, str]) -> None:
        behaviour, cursor = peer.behaviour, query.get("cursor")
        if behaviour == "deep-list-records":
            return self._send(200, deep_json())
        if behaviour == "huge-int-list-records":
            return self._send(200, b'{"records": [], "cursor": "x", "n": ' + b"9" * 5000 + b"}")
        if behaviour == "gzip-bomb-json":
            return self._send(200, gzip_bomb(256 * _MIB), content_encoding="gzip")
        if behaviour == "cycling-cursors":
            page = peer.padded_page(0 if cursor != "a" else 1)
            return self._json({**page, "cursor": "b" if cursor == "a" else "a"})
        if behaviour == "endless-cursors":
            number = int(cursor or "0")
            return self._json({**peer.padded_page(number), "cursor": str(number + 1)})
        return self._json(peer.list_page(cursor))

    def _get_repo(self, peer: HostilePeer) -> None:
        behaviour = peer.behaviour
        car = "application/vnd.ipld.car"
        if behaviour == "slow-body":
            return self._stream(peer, (peer.car[i : i + 1] for i in range(len(peer.car))), car, pause=0.25)
        if behaviour == "slow-headers":  # every read returns in time; only a deadline per request ends it
            self.wfile.write(b"HTTP/1.0 200 OK\r\nx-slow: ")
            for _ in range(100_000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.25)
            return None
        if behaviour == "gzip-bomb-car":
            return self._send(200, gzip_bomb(256 * _MIB), car, content_encoding="gzip")
        if behaviour == "unreferenced-blocks":
            return self._stream(peer, itertools.chain([peer.car], peer.junk_blocks()), car)
        if behaviour == "garbage-stream":
            garbage = hashlib.sha256(b"garbage").digest() * (_MIB // 32)
            return self._stream(peer, itertools.repeat(garbage, 2048), car)  # 2 GiB
        return self._send(200, peer.car, car)


__all__ = ["BEHAVIOURS", "EXPRESSION", "HostilePeer", "deep_json", "gzip_bomb"]
