"""Hypothesis strategies driven by the lexicon JSON: valid records of every type and mutants.

Importable by tests and benchmarks (``tests.records.strategies``). The lexicon tree is
read as plain JSON, independently of the generated models, so the strategies can check
the validator rather than mirror it.
"""

from ._corpus import Sample, corpus, samples, valid_records
from ._formats import BAD, EDGE, VALID
from ._mutations import MUTATIONS, Mutation
from ._tree import LexiconTree, default_lexicon_dir
from ._values import SPECIAL_TEXT, Generator, Site, fit_string, grapheme_len

__all__ = [
    "BAD",
    "EDGE",
    "MUTATIONS",
    "SPECIAL_TEXT",
    "VALID",
    "Generator",
    "LexiconTree",
    "Mutation",
    "Sample",
    "Site",
    "corpus",
    "default_lexicon_dir",
    "fit_string",
    "grapheme_len",
    "samples",
    "valid_records",
]
