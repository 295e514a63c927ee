"""Parsed atproto identifiers: parse once at the edge, pass typed values inward.

Each type is a ``str`` subclass whose constructor validates the syntax given by the
atproto specifications (https://atproto.com/specs/): a ``Did`` in hand is a syntactically
valid DID, so downstream code never re-checks or re-splits strings. Invalid input
raises :class:`~lairs_etl.errors.InvalidIdentifier` (also a ``ValueError``).

The ``is_*`` predicates are the same checks without raising; the lexicon string
formats in :mod:`lairs_etl.records` use them.
"""

from __future__ import annotations

import functools
import re
from typing import ClassVar

from lairs_etl.errors import InvalidIdentifier

__all__ = [
    "AtUri",
    "Did",
    "Handle",
    "Nsid",
    "RecordKey",
    "Tid",
    "is_did",
    "is_handle",
    "is_nsid",
    "is_record_key",
    "is_tid",
]

# The reference regexes of @atproto/syntax, ending in \Z where JavaScript has "$": Python's
# "$" would also match before a trailing newline ("did:plc:abc\n"), JavaScript's does not.
_DID_RE = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]\Z")
_DID_MAX = 2048
_HANDLE_RE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\Z"
)
_HANDLE_MAX = 253
_NSID_RE = re.compile(
    r"^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"(\.[a-zA-Z]([a-zA-Z0-9]{0,62})?)\Z"
)
_NSID_MAX = 317
_RKEY_RE = re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}\Z")
_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}\Z")


def is_did(value: str) -> bool:
    """True when ``value`` has DID syntax (method-agnostic)."""
    return len(value) <= _DID_MAX and _DID_RE.match(value) is not None


def is_handle(value: str) -> bool:
    """True when ``value`` has handle (DNS name) syntax."""
    return len(value) <= _HANDLE_MAX and _HANDLE_RE.match(value) is not None


def is_nsid(value: str) -> bool:
    """True when ``value`` has NSID syntax."""
    return len(value) <= _NSID_MAX and _NSID_RE.match(value) is not None


def is_record_key(value: str) -> bool:
    """True when ``value`` is a valid record key (``.`` and ``..`` are reserved)."""
    return value not in (".", "..") and _RKEY_RE.match(value) is not None


def is_tid(value: str) -> bool:
    """True when ``value`` is a 13-character base32-sortable TID."""
    return _TID_RE.match(value) is not None


class _Identifier(str):
    """A validated identifier; subclasses set ``kind`` and ``_check``."""

    __slots__ = ()
    kind: ClassVar[str] = "identifier"

    @staticmethod
    def _check(value: str) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def __new__(cls, value: str) -> _Identifier:
        if not isinstance(value, str) or not cls._check(value):
            raise InvalidIdentifier(
                f"not a valid {cls.kind}: {value!r:.200}", kind=cls.kind, value=str(value)
            )
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


class Did(_Identifier):
    """A decentralized identifier such as ``did:plc:…`` or ``did:web:…``."""

    __slots__ = ()
    kind = "did"
    _check = staticmethod(is_did)

    @property
    def method(self) -> str:
        """The DID method (``plc``, ``web``)."""
        return self.split(":", 2)[1]


class Handle(_Identifier):
    """A handle; stored lower-cased because handles compare case-insensitively."""

    __slots__ = ()
    kind = "handle"
    _check = staticmethod(is_handle)

    def __new__(cls, value: str) -> Handle:
        """Validate and lower-case ``value``."""
        return super().__new__(cls, value.lower() if isinstance(value, str) else value)  # type: ignore[return-value]


class Nsid(_Identifier):
    """A namespaced identifier naming a lexicon, e.g. a record collection."""

    __slots__ = ()
    kind = "nsid"
    _check = staticmethod(is_nsid)

    @property
    def authority(self) -> str:
        """The reversed-domain part, everything but the last segment."""
        return self.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        """The last segment."""
        return self.rsplit(".", 1)[1]


class RecordKey(_Identifier):
    """A record key within a collection."""

    __slots__ = ()
    kind = "record-key"
    _check = staticmethod(is_record_key)


class Tid(_Identifier):
    """A timestamp identifier (also the form of repository revisions)."""

    __slots__ = ()
    kind = "tid"
    _check = staticmethod(is_tid)


@functools.lru_cache(maxsize=4096)
def _authority(value: str) -> Did | Handle:
    return Did(value) if value.startswith("did:") else Handle(value)


@functools.lru_cache(maxsize=1024)
def _nsid(value: str) -> Nsid:
    return Nsid(value)


class AtUri(str):
    """``at://<did-or-handle>[/<collection>[/<rkey>]]``, split once at construction.

    Query and fragment parts are not part of a record address and are refused.
    """

    __slots__ = ("_authority", "_collection", "_rkey")
    kind: ClassVar[str] = "at-uri"

    _authority: Did | Handle
    _collection: Nsid | None
    _rkey: RecordKey | None

    def __new__(cls, value: str) -> AtUri:
        """Parse ``value``; raises :class:`InvalidIdentifier` if any part is invalid."""

        def bad() -> InvalidIdentifier:
            return InvalidIdentifier(f"not a valid at-uri: {value!r:.200}", kind=cls.kind, value=str(value))

        if not isinstance(value, str) or not value.startswith("at://") or len(value) > 8192:
            raise bad()
        parts = value[5:].split("/")
        if len(parts) > 3 or any(p == "" for p in parts) or "?" in value or "#" in value:
            raise bad()
        try:
            authority = _authority(parts[0])
            collection = _nsid(parts[1]) if len(parts) > 1 else None
            rkey = RecordKey(parts[2]) if len(parts) > 2 else None
        except InvalidIdentifier as exc:
            raise bad() from exc
        self = super().__new__(cls, value)
        self._authority, self._collection, self._rkey = authority, collection, rkey
        return self

    @classmethod
    def for_record(cls, did: str, collection: str, rkey: str) -> AtUri:
        """Build the URI of one record from its parts (each validated once).

        Fetching builds one URI per record from a handful of distinct DIDs and
        collections, so those parses are memoized; only the rkey is checked per call.
        """
        authority, nsid, key = _authority(did), _nsid(collection), RecordKey(rkey)
        if not isinstance(authority, Did):
            raise InvalidIdentifier(f"a record URI needs a DID, not {did!r:.200}", kind="did", value=str(did))
        self = str.__new__(cls, f"at://{authority}/{nsid}/{key}")
        self._authority, self._collection, self._rkey = authority, nsid, key
        return self

    @classmethod
    def for_path(cls, did: str, path: str) -> AtUri:
        """The URI of the record at ``path`` in ``did``'s repository.

        ``path`` is ``collection/rkey``, the form of MST keys, firehose ops and staged
        writes; parsed as :meth:`for_record` does.
        """
        collection, slash, rkey = path.partition("/")
        if not slash:
            raise InvalidIdentifier(
                f"not a record path (collection/rkey): {path!r:.200}", kind="record-path", value=str(path)
            )
        return cls.for_record(did, collection, rkey)

    @property
    def authority(self) -> Did | Handle:
        """The DID or handle the URI is rooted at."""
        return self._authority

    @property
    def did(self) -> Did:
        """The authority as a DID; raises if the URI names a handle instead."""
        if not isinstance(self._authority, Did):
            raise InvalidIdentifier(
                f"at-uri authority is a handle, not a DID: {self}", kind="did", value=str(self._authority)
            )
        return self._authority

    @property
    def collection(self) -> Nsid | None:
        """The collection NSID, if the URI names one."""
        return self._collection

    @property
    def rkey(self) -> RecordKey | None:
        """The record key, if the URI names a record."""
        return self._rkey

    def __repr__(self) -> str:
        return f"AtUri({str.__repr__(self)})"
