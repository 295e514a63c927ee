"""The one sync engine: the CLI's ``sync``/``pull`` and the Dagster assets call it.

:func:`sync` takes :class:`Target` actors through fetch, verification, validation,
commit and the lake in one pass (:mod:`.engine`); :class:`SyncOptions` says how, and
:class:`SyncReport` what happened, one typed :class:`ActorSync` (and per collection,
:class:`CollectionSync`) per target. :func:`sync_corpora` takes corpora instead, syncing
the actors of each one's reference closure (:mod:`.corpus`). :mod:`.discovery` finds
actors and :mod:`.changes` tells which of them moved (the Dagster sensors call both).
Nothing here imports Dagster.
"""

from lairs_etl.sync.corpus import ClosureLimits, CorpusClosure, CorpusSync, corpus_closure, sync_corpora
from lairs_etl.sync.engine import LakeTarget, sync
from lairs_etl.sync.model import (
    ActorSync,
    CollectionSync,
    RecordProblem,
    Stage,
    Status,
    SyncOptions,
    SyncReport,
    Target,
)

__all__ = [
    "ActorSync",
    "ClosureLimits",
    "CollectionSync",
    "CorpusClosure",
    "CorpusSync",
    "LakeTarget",
    "RecordProblem",
    "Stage",
    "Status",
    "SyncOptions",
    "SyncReport",
    "Target",
    "corpus_closure",
    "sync",
    "sync_corpora",
]
