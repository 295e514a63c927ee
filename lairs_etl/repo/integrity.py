"""What a repository block links to, knowing which kind of block it is (for fsck).

The generic :func:`~lairs_etl.repo.fsck.dag_cbor_links` follows every CID inside a
block. That is wrong for two kinds of ours: an actor state names the PDS commit it was
fetched at (a block we do not store) and a record may link to anything its author
chose. The walk here follows only the links the repository promises to hold:

    commit → actor map, parents;  actor map → shards;  shard → each actor's MST root;
    MST node → subtrees and record values;  record → nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.errors import CodecError

__all__ = ["RepositoryLinks"]


class RepositoryLinks:
    """A stateful link function for :func:`fsck_packs`: seed it with the commits.

    The walk reaches each block from its parent first, so the kind recorded for a
    target when its parent is read is known by the time the target itself is read.
    """

    def __init__(self, commits: Iterable[Cid]) -> None:
        self._kinds: dict[bytes, str] = {cid.cid_bytes: "commit" for cid in commits}

    def __call__(self, cid: Cid, data: bytes) -> Iterator[Cid]:
        """The blocks ``cid`` links to that the repository must hold."""
        kind = self._kinds.get(cid.cid_bytes, "record")
        if kind == "record":
            return iter(())
        raw = cbor.decode(data)  # a CodecError is reported by fsck against this block
        targets = list(_targets(kind, raw))
        for target_kind, target in targets:
            self._kinds.setdefault(target.cid_bytes, target_kind)
        return iter([target for _, target in targets])

    def add_commits(self, commits: Iterable[Cid]) -> None:
        """Seed more commits (another ref's) before walking from them."""
        for cid in commits:
            self._kinds[cid.cid_bytes] = "commit"


def _targets(kind: str, raw: object) -> Iterator[tuple[str, Cid]]:
    if not isinstance(raw, dict):
        raise CodecError(f"a {kind} block is not a map")
    if kind == "commit":
        yield from (("commit", p) for p in raw.get("parents", ()) if isinstance(p, Cid))
        if isinstance(raw.get("actors"), Cid):
            yield "actors", raw["actors"]
    elif kind == "actors":
        yield from (("shard", s) for s in raw.get("shards", ()) if isinstance(s, Cid))
    elif kind == "shard":
        for state in raw.values():
            if isinstance(state, dict) and isinstance(state.get("root"), Cid):
                yield "mst", state["root"]
    elif kind == "mst":
        if isinstance(raw.get("l"), Cid):
            yield "mst", raw["l"]
        for entry in raw.get("e", ()):
            if isinstance(entry, dict):
                if isinstance(entry.get("t"), Cid):
                    yield "mst", entry["t"]
                if isinstance(entry.get("v"), Cid):
                    yield "record", entry["v"]
