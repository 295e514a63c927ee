"""Publish a revision of the local repository to the actor's own PDS.

:func:`publish` plans (revision vs. the PDS's current records, by CID), orders the
writes by the references the records contain (targets first, reference cycles in one
atomic call), and with ``apply=True`` writes them through ``applyWrites`` chained by
``swapCommit``. It is resumable: every run re-reads the PDS, so an interrupted
publish is finished by running it again.
"""

from lairs_etl.publish.api import PublishOptions, publish, publish_records
from lairs_etl.publish.apply import Progress, WriteResult
from lairs_etl.publish.batching import MAX_BODY_BYTES, MAX_WRITES, Batching, pack_calls
from lairs_etl.publish.blobs import MAX_BLOB_BYTES, BlobSource
from lairs_etl.publish.order import order_groups, order_writes, strongly_connected
from lairs_etl.publish.plan import LocalRecord, Plan, RemoteRecord, RemoteState, Write, make_plan
from lairs_etl.publish.report import PublishReport, format_plan
from lairs_etl.publish.session import DEFAULT_PASSWORD_ENV, Session, password_from_env
from lairs_etl.publish.state import local_records, managed_collections, remote_state
from lairs_etl.records.references import blob_refs, record_references, reference_paths, reference_strings

__all__ = [
    "Batching",
    "BlobSource",
    "DEFAULT_PASSWORD_ENV",
    "LocalRecord",
    "MAX_BLOB_BYTES",
    "MAX_BODY_BYTES",
    "MAX_WRITES",
    "Plan",
    "Progress",
    "PublishOptions",
    "PublishReport",
    "RemoteRecord",
    "RemoteState",
    "Session",
    "Write",
    "WriteResult",
    "blob_refs",
    "format_plan",
    "local_records",
    "make_plan",
    "managed_collections",
    "order_groups",
    "order_writes",
    "pack_calls",
    "password_from_env",
    "publish",
    "publish_records",
    "record_references",
    "reference_paths",
    "reference_strings",
    "remote_state",
    "strongly_connected",
]
