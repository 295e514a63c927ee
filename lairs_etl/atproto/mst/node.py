"""One MST node: an immutable value with a strict, canonical-only codec.

Wire form (DAG-CBOR)::

    {"l": CID | null, "e": [{"p": int, "k": bytes, "v": CID, "t": CID | null}, ...]}

``p`` counts the bytes a key shares with the previous key *in the same node* and ``k``
holds the rest; the first entry has ``p == 0``. The compression is mandatory and
minimal, so a key set has exactly one encoding and one CID.

In memory the entries are interleaved with the subtrees like so::

    keys:           k0    k1    k2
    subtrees:   s0     s1    s2    s3        (s0 is "l", s[i+1] is entry i's "t")

Decoding checks everything one node can show about itself (shape, link forms, key
syntax, order, minimal prefixes, one layer for all keys). What needs the node's place
in the tree (its expected layer and key range) is :mod:`.check`'s job.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from lairs_etl.atproto import cbor
from lairs_etl.atproto.cid import Cid
from lairs_etl.atproto.mst.keys import KEY_PATTERN, MAX_KEY_LENGTH, common_prefix_len, key_layer
from lairs_etl.errors import CodecError, ConfigError, MstStructureError

__all__ = ["EMPTY_ROOT", "Node", "encode_entries"]

_DAG_CBOR_PREFIX = Cid.CIDV1_DAG_CBOR_SHA256_32_PFX
_ENTRY_FIELDS = frozenset("kptv")
_NODE_FIELDS = frozenset("el")
_valid_key_bytes = re.compile(KEY_PATTERN.encode("ascii")).fullmatch
"""Key syntax on the raw bytes: the pattern is ASCII-only, so a match is ASCII too."""
_sha256 = hashlib.sha256

# Nodes are built here from bytes, ints, CIDs and None only: nothing the generic
# encoder's float and depth checks could catch, so encoding skips them (they cost as
# much as the encoding itself on the edit path). Decoding keeps the checked codec.
_encode_known_shape: Callable[[Any], bytes] = cbor.encode_unchecked


def encode_entries(left: Cid | None, entries: Sequence[tuple[bytes, Cid, Cid | None]]) -> bytes:
    """Encode a node from ``(key bytes, value, right subtree)`` triples, in key order.

    The single encoder behind :meth:`Node.encode`; the bulk builder has the same loop
    inlined because it is the hot path.
    """
    out = []
    prev = b""
    for key, value, tree in entries:
        p = common_prefix_len(prev, key)
        out.append({"k": key[p:], "p": p, "t": tree, "v": value})
        prev = key
    return _encode_known_shape({"e": out, "l": left})


@dataclass(frozen=True, slots=True)
class Node:
    """An MST node; ``subtrees`` has one more element than ``keys`` (see module doc).

    Instances are values: equal nodes have equal encodings and CIDs. The encoding and
    CID are computed once, on first use. Construction checks shapes and key order (cheap);
    that all keys share one layer is left to :meth:`decode` and the tree builders, which
    guarantee it, because it costs a hash per key.

    Raises:
        ConfigError: (on construction) mismatched lengths or keys out of order.
    """

    keys: tuple[str, ...]
    values: tuple[Cid, ...]
    subtrees: tuple[Cid | None, ...]
    _encoded: bytes | None = field(default=None, init=False, compare=False, repr=False)
    _cid: Cid | None = field(default=None, init=False, compare=False, repr=False)
    _layer: int | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = self.keys
        if len(self.subtrees) != len(keys) + 1 or len(self.values) != len(keys):
            raise ConfigError("an MST node needs len(subtrees) == len(keys) + 1 == len(values) + 1")
        if any(a >= b for a, b in pairwise(keys)):
            raise ConfigError("MST node keys must be strictly increasing")

    @classmethod
    def empty(cls) -> Node:
        """The node of an empty tree (and of nothing else)."""
        return cls((), (), (None,))

    @property
    def left(self) -> Cid | None:
        """The subtree before the first key (``l`` on the wire)."""
        return self.subtrees[0]

    @property
    def is_empty(self) -> bool:
        """No entries and no subtree: legal only as the root of an empty tree."""
        return not self.keys and self.subtrees[0] is None

    @property
    def layer(self) -> int | None:
        """The layer of this node's keys, or ``None`` when it has none to tell."""
        layer = self._layer
        if layer is None and self.keys:
            layer = key_layer(self.keys[0])
            object.__setattr__(self, "_layer", layer)  # a cache, like _prime's
        return layer

    def index(self, key: str) -> int:
        """Position of the first key ``>= key``; also the subtree that would hold it."""
        return bisect_left(self.keys, key)

    def encode(self) -> bytes:
        """The canonical DAG-CBOR bytes of this node."""
        data = self._encoded
        if data is None:
            entries = [
                (k.encode(), v, t)
                for k, v, t in zip(self.keys, self.values, self.subtrees[1:], strict=True)
            ]
            data = encode_entries(self.subtrees[0], entries)
            self._prime(data, Cid(_DAG_CBOR_PREFIX + hashlib.sha256(data).digest()))
        return data

    @property
    def cid(self) -> Cid:
        """The CID of :meth:`encode`'s bytes."""
        cid = self._cid
        if cid is None:
            self.encode()
            cid = self._cid
            assert cid is not None  # encode() primed it
        return cid

    def _prime(self, data: bytes, cid: Cid) -> None:
        # The only mutation a frozen node allows: filling its own encoding cache.
        object.__setattr__(self, "_encoded", data)
        object.__setattr__(self, "_cid", cid)

    @classmethod
    def decode(cls, data: bytes, cid: Cid | None = None) -> Node:
        """Parse a node, accepting only the one canonical encoding of a valid node.

        ``cid`` (when known) only names the node in errors and primes the CID cache; the
        hash is not checked here (see :class:`~lairs_etl.atproto.mst.loader.NodeLoader`).

        Raises:
            MstStructureError: not DAG-CBOR, wrong shape, bad link form, invalid key,
                keys out of order, non-minimal prefix, or keys on different layers.
        """
        name = _Name(cid)
        try:
            # Every field's exact type is checked below, which refuses floats and nesting.
            obj = cbor.decode_schema_checked(data)
        except CodecError as exc:
            raise MstStructureError(f"MST node is not valid DAG-CBOR: {exc.message}", cid=name()) from exc
        if not isinstance(obj, dict) or obj.keys() != _NODE_FIELDS:
            raise MstStructureError("MST node must be a map with exactly 'e' and 'l'", cid=name())
        raw_entries = obj["e"]
        if type(raw_entries) is not list:
            raise MstStructureError("MST node 'e' must be an array", cid=name())
        subtrees: list[Cid | None] = [_tree_link(obj["l"], "l", name)]
        keys: list[str] = []
        values: list[Cid] = []
        layer: int | None = None
        prev = b""
        # One pass over the entries checks them all: a repository fetch decodes every node.
        for raw in raw_entries:
            key = _entry_key(raw, prev, name)
            value, tree = raw["v"], raw["t"]
            if type(value) is not Cid:
                raise MstStructureError("MST entry 'v' must be a CID link", cid=name())
            own = _layer_of(key)
            if layer is None:
                layer = own
            elif own != layer:
                raise MstStructureError("MST node holds keys of different layers", cid=name())
            keys.append(key.decode("ascii"))
            values.append(value)
            subtrees.append(None if tree is None else _tree_link(tree, "t", name))
            prev = key
        node = cls._checked(tuple(keys), tuple(values), tuple(subtrees), layer)
        if cid is not None:
            node._prime(data, cid)
        return node

    @classmethod
    def _checked(
        cls,
        keys: tuple[str, ...],
        values: tuple[Cid, ...],
        subtrees: tuple[Cid | None, ...],
        layer: int | None,
    ) -> Node:
        """A node from parts :meth:`decode` already checked, with its layer known."""
        node = object.__new__(cls)
        init = object.__setattr__  # a frozen dataclass: the way its own __init__ sets fields
        init(node, "keys", keys)
        init(node, "values", values)
        init(node, "subtrees", subtrees)
        init(node, "_encoded", None)
        init(node, "_cid", None)
        init(node, "_layer", layer)
        return node


class _Name:
    """Renders a node's CID for an error message only when one is raised."""

    __slots__ = ("cid",)

    def __init__(self, cid: Cid | None) -> None:
        self.cid = cid

    def __call__(self) -> str | None:
        return None if self.cid is None else self.cid.encode()


def _tree_link(value: object, name: str, node: _Name) -> Cid | None:
    if value is None:
        return None
    if not isinstance(value, Cid) or not value.is_cidv1_dag_cbor_sha256_32():
        raise MstStructureError(f"MST link {name!r} must be null or a dag-cbor sha2-256 CIDv1", cid=node())
    return value


def _entry_key(raw: object, prev: bytes, node: _Name) -> bytes:
    """Rebuild an entry's full key and check its compression, order and syntax."""
    if type(raw) is not dict or raw.keys() != _ENTRY_FIELDS:
        raise MstStructureError("MST entry must be a map with exactly 'k', 'p', 't' and 'v'", cid=node())
    p, suffix = raw["p"], raw["k"]
    if type(p) is not int or type(suffix) is not bytes:
        raise MstStructureError("MST entry 'p' must be an integer and 'k' bytes", cid=node())
    if not 0 <= p <= len(prev):
        raise MstStructureError(f"MST entry prefix length {p} out of range", cid=node())
    # key[:p] == prev[:p] by construction, so the shared prefix is exactly p unless the
    # next bytes match too (an empty suffix is caught by the order check below).
    if p < len(prev) and suffix and suffix[0] == prev[p]:
        raise MstStructureError("MST entry prefix compression is not minimal", cid=node())
    key = prev[:p] + suffix if p else suffix
    if key <= prev:
        raise MstStructureError("MST entries are not in strictly increasing key order", cid=node())
    if len(key) > MAX_KEY_LENGTH or _valid_key_bytes(key) is None:
        raise MstStructureError(f"MST entry key is not a valid repository path: {key!r:.120}", cid=node())
    return key


def _layer_of(key: bytes) -> int:
    """:func:`~.keys.key_layer` for key bytes, with a fast path for the 3 keys in 4 on layer 0."""
    digest = _sha256(key).digest()
    if digest[0] >= 0x40:
        return 0
    return (256 - int.from_bytes(digest, "big").bit_length()) >> 1


EMPTY_ROOT: Cid = Node.empty().cid
"""The CID of the empty tree (``bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm``)."""
