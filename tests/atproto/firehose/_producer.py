"""A firehose producer for tests: signed ``#commit`` frames from an in-memory repository.

It plays the PDS's part with our own MST, CAR writer and signer, so verification can be
tested offline on any tree and any tampering. Its proofs carry every node of the new
tree (a superset of what Sync 1.1 requires); the conformance fixtures cover the minimal
proofs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from lairs_etl.atproto import cbor
from lairs_etl.atproto.car import write_car
from lairs_etl.atproto.cid import Cid, cid_for_dag_cbor
from lairs_etl.atproto.commit import sign_commit
from lairs_etl.atproto.crypto import PrivateKey, generate_private_key
from lairs_etl.atproto.mst import EMPTY_ROOT, MstEditor, walk_nodes
from lairs_etl.atproto.syntax import Did, Tid
from lairs_etl.atproto.tid import tid_from_parts

__all__ = ["Producer", "frame"]


def frame(kind: str, body: dict[str, object]) -> bytes:
    """One frame: the ``{op: 1, t}`` header, then the body."""
    return cbor.encode({"op": 1, "t": kind}) + cbor.encode(body)


@dataclass
class Producer:
    """One account's repository; :meth:`commit` applies writes and returns the frame."""

    did: Did = field(default_factory=lambda: Did("did:plc:testproducer000000000000"))
    key: PrivateKey = field(default_factory=generate_private_key)
    root: Cid = EMPTY_ROOT
    rev: str | None = None
    seq: int = 0
    nodes: dict[Cid, bytes] = field(default_factory=dict)
    records: dict[str, Cid] = field(default_factory=dict)
    micros: int = 1_700_000_000_000_000

    def __post_init__(self) -> None:
        self.editor = MstEditor(self.nodes.__getitem__)

    def commit(self, writes: Iterable[tuple[str, dict[str, object] | None]]) -> bytes:
        """Apply ``(path, record or None to delete)`` writes; returns the ``#commit`` frame."""
        before = self.root
        ops: list[dict[str, object]] = []
        blocks: dict[Cid, bytes] = {}
        for path, record in writes:
            prev = self.records.get(path)
            if record is None:
                self.root = self.editor.delete(self.root, path)
                self.records.pop(path, None)
                ops.append({"action": "delete", "path": path, "cid": None, "prev": prev})
                continue
            block = cbor.encode(record)
            cid = cid_for_dag_cbor(block)
            blocks[cid] = block
            self.root = self.editor.put(self.root, path, cid)
            self.records[path] = cid
            op: dict[str, object] = {"action": "update" if prev else "create", "path": path, "cid": cid}
            if prev is not None:
                op["prev"] = prev
            ops.append(op)
        self.nodes.update(self.editor.new_blocks(self.root))
        for cid, node in walk_nodes(self.root, self.nodes.__getitem__):
            blocks[cid] = node.encode()
        self.micros += 1
        since, self.rev = self.rev, str(tid_from_parts(self.micros, 7))
        commit_cid, commit_block = sign_commit(self.did, self.root, Tid(self.rev), None, self.key)
        blocks[commit_cid] = commit_block
        car = io.BytesIO()
        write_car(car, [commit_cid], blocks.items())
        self.seq += 1
        body: dict[str, object] = {
            "seq": self.seq,
            "rebase": False,
            "tooBig": False,
            "repo": str(self.did),
            "commit": commit_cid,
            "rev": self.rev,
            "since": since,
            "blocks": car.getvalue(),
            "ops": ops,
            "blobs": [],
            "prevData": before,
            "time": "2026-12-07T00:00:00.000Z",
        }
        return frame("#commit", body)
