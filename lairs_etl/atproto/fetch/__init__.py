"""Verified fetching of an actor's records: ``car``, ``tree``, ``records`` and ``auto``.

:func:`fetch_actor` is the entry point; :mod:`lairs_etl.atproto.fetch.auto` states the
rule ``auto`` follows. Every mode collects and checks everything before returning, so
a :class:`FetchResult` never holds records from a fetch that failed a check.
"""

from lairs_etl.atproto.fetch.api import DEFAULT_NAMESPACE, default_collections, fetch_actor
from lairs_etl.atproto.fetch.auto import choose_mode
from lairs_etl.atproto.fetch.car import fetch_car
from lairs_etl.atproto.fetch.model import (
    CollectionFilter,
    FetchedRecord,
    FetchMode,
    FetchResult,
    ResolvedMode,
)
from lairs_etl.atproto.fetch.protocols import Client, IdentityLike, Resolver
from lairs_etl.atproto.fetch.records import fetch_records
from lairs_etl.atproto.fetch.tree import fetch_tree

__all__ = [
    "DEFAULT_NAMESPACE",
    "Client",
    "CollectionFilter",
    "FetchMode",
    "FetchResult",
    "FetchedRecord",
    "IdentityLike",
    "ResolvedMode",
    "Resolver",
    "choose_mode",
    "default_collections",
    "fetch_actor",
    "fetch_car",
    "fetch_records",
    "fetch_tree",
]
