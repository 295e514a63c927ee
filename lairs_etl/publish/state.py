"""The two sides a plan compares: a revision of the local repository and the PDS now.

The PDS side is re-read on every plan (never cached between runs): that is what makes
a publish resumable, since whatever landed before an interruption is simply found
there. It is read with a verified ``getRepo`` (the ``car`` fetch mode), whose commit
is the one the first write swaps on; the ``records`` mode is the fallback for a PDS
without ``sync`` endpoints, with the commit read just before listing so that a write
landing in between makes the swap fail instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping

from lairs_etl.atproto import cbor
from lairs_etl.atproto.fetch import CollectionFilter, FetchResult, fetch_car, fetch_records
from lairs_etl.atproto.fetch.protocols import IdentityLike
from lairs_etl.atproto.probes import get_latest_commit
from lairs_etl.atproto.syntax import Did
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import PublishError, XrpcError
from lairs_etl.publish.plan import LocalRecord, RemoteRecord, RemoteState
from lairs_etl.records import record_types
from lairs_etl.repo.repository import Repository

__all__ = ["local_records", "managed_collections", "remote_state"]


def managed_collections() -> CollectionFilter:
    """The collections a publish manages: every Layers record type, nothing else."""
    return CollectionFilter.of(record_types())


def local_records(repo: Repository, rev: str, did: str) -> dict[str, LocalRecord]:
    """The actor's tracked records at ``rev``, keyed ``collection/rkey``.

    Raises:
        NotFoundError: ``rev`` does not resolve.
    """
    out: dict[str, LocalRecord] = {}
    for stored in repo.iter_records(rev, dids=[did], collections=record_types()):
        key = f"{stored.uri.collection}/{stored.uri.rkey}"
        out[key] = LocalRecord(stored.cid, cbor.decode_json_form(stored.block))
    return out


def remote_state(identity: IdentityLike, client: XrpcClient) -> RemoteState:
    """The actor's tracked records on its PDS and the commit they were read at.

    Raises:
        VerificationError: the repository failed a check.
        TransportError: the PDS could not be read.
    """
    tracked = managed_collections()
    try:
        result = fetch_car(identity, tracked, client=client)
    except XrpcError as exc:
        if exc.status not in (400, 404, 501) or exc.error in ("RepoNotFound", "RepoTakendown"):
            raise
        return _from_listing(identity, client, tracked)
    if result.commit is None or result.rev is None:
        raise PublishError("the PDS repository has no commit", actor=identity.did)
    return RemoteState(Did(identity.did), result.commit, str(result.rev), _by_key(result))


def _from_listing(identity: IdentityLike, client: XrpcClient, tracked: CollectionFilter) -> RemoteState:
    commit, rev = get_latest_commit(client, identity.pds_url, identity.did)
    result = fetch_records(Did(identity.did), identity.pds_url, tracked, client=client)
    return RemoteState(Did(identity.did), commit, str(rev), _by_key(result))


def _by_key(result: FetchResult) -> Mapping[str, RemoteRecord]:
    return {f"{r.uri.collection}/{r.uri.rkey}": RemoteRecord(r.cid, r.value) for r in result.records}


def _as_xrpc(client: XrpcClient) -> object:
    return client
