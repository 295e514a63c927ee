"""Synthetic Layers corpora on a local PDS (the seeder) and the ``lairs-etl demo`` runner."""

from lairs_etl.demo.minimal import FORMAT_SAMPLES, minimal_record
from lairs_etl.demo.seed import (
    DEFAULT_FILL,
    SeededActor,
    SeededCorpus,
    actor_records,
    reference_target,
    seed_actor,
    seed_corpus,
)

__all__ = [
    "DEFAULT_FILL",
    "FORMAT_SAMPLES",
    "SeededActor",
    "SeededCorpus",
    "actor_records",
    "minimal_record",
    "reference_target",
    "seed_actor",
    "seed_corpus",
]
