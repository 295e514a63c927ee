"""A small Layers appview on loopback: the list queries, answered from the PDS's records.

:class:`Appview` indexes the accounts it is given (``listRecords`` on the local PDS at
each request, so it is never stale) and answers ``listMemberships(corpusRef)``,
``listAnnotationLayers(expression)``, ``listSegmentations(expression)`` and
``listAlignments(expression)`` with ``{"records": [{"uri", "cid", "value"}]}``. A
``lie`` function may rewrite every answer: what a hostile appview would send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from lairs_etl.localpds import Account

Answer = dict[str, Any]
Lie = Callable[[str, dict[str, str], Answer], Answer]

_BY = {
    "pub.layers.corpus.listMemberships": ("pub.layers.corpus.membership", "corpusRef", "corpusRef"),
    "pub.layers.annotation.listAnnotationLayers": (
        "pub.layers.annotation.annotationLayer",
        "expression",
        "expression",
    ),
    "pub.layers.segmentation.listSegmentations": (
        "pub.layers.segmentation.segmentation",
        "expression",
        "expression",
    ),
    "pub.layers.alignment.listAlignments": ("pub.layers.alignment.alignment", "expression", "expression"),
}


class Appview:
    """The index over ``accounts``; ``calls`` counts the queries answered."""

    def __init__(self, accounts: Sequence[Account], lie: Lie | None = None) -> None:
        self.accounts = list(accounts)
        self.lie = lie
        self.calls = 0

    def answer(self, nsid: str, params: dict[str, str]) -> Answer | None:
        if nsid not in _BY:
            return None
        self.calls += 1
        collection, param, field = _BY[nsid]
        wanted = params.get(param)
        records = [
            {"uri": r["uri"], "cid": r["cid"], "value": r["value"]}
            for account in self.accounts
            for r in account.list_records(collection)
            if isinstance(r.get("value"), dict) and r["value"].get(field) == wanted
        ]
        answer: Answer = {"records": records}
        return self.lie(nsid, params, answer) if self.lie is not None else answer


@contextmanager
def serve(appview: Appview) -> Iterator[str]:
    """Serve ``appview`` on a free loopback port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            nsid = url.path.removeprefix("/xrpc/")
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            answer = appview.answer(nsid, params)
            status = 200 if answer is not None else 400
            body = json.dumps(answer if answer is not None else {"error": "MethodNotImplemented"}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
