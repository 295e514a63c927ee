"""Our validator against the reference (@atproto/lexicon) on a generated, seeded corpus.

Several thousand records, valid ones of all 26 types plus mutants, go through both
validators in one batch; the verdicts must agree on at least 99.5 % of them. The corpus
is deterministic (fixed hypothesis seed), so a failure reproduces; the assertion message
carries the per-mutation summary and the table of disagreements. Set
``LAIRS_ETL_DIFF_REPORT=<file>`` to also write the full table (with records) as markdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ._comparison import Row, compare, disagreement_table, summary
from .reference import reference_verdicts
from .strategies import MUTATIONS, LexiconTree, corpus

pytestmark = [pytest.mark.node, pytest.mark.slow]

_AGREEMENT = 0.995

@pytest.fixture(scope="module")
def tree() -> LexiconTree:
    return LexiconTree.load()


@pytest.fixture(scope="module")
def rows(tree: LexiconTree) -> list[Row]:
    samples = corpus(tree, per_type=12)
    result = compare(samples, reference_verdicts([s.record for s in samples], tree.root))
    report = os.environ.get("LAIRS_ETL_DIFF_REPORT")
    if report:
        Path(report).write_text(
            f"{summary(result)}\n\n{disagreement_table(result, limit=None, with_records=True)}\n",
            encoding="utf-8",
        )
    return result


def test_corpus_is_large_and_covers_every_record_type(rows: list[Row], tree: LexiconTree) -> None:
    assert len(rows) >= 3000
    assert {row.sample.nsid for row in rows} == set(tree.record_types)
    assert len(tree.record_types) == 26


def test_verdicts_agree_with_the_reference(rows: list[Row]) -> None:
    rate = sum(row.agrees for row in rows) / len(rows)
    print(summary(rows))
    print(disagreement_table(rows))
    assert rate >= _AGREEMENT, (
        f"agreement {rate:.2%} < {_AGREEMENT:.1%}\n\n{summary(rows)}\n\n{disagreement_table(rows)}"
    )


def test_lone_surrogates_are_our_one_deliberate_difference(rows: list[Row]) -> None:
    # The reference validates JSON values and accepts a lone surrogate; such a string has
    # no UTF-8 form, so the record could never be stored as DAG-CBOR: we call it invalid.
    surrogates = [row for row in rows if row.sample.mutation == "lone_surrogate"]
    assert surrogates
    assert all(not row.ours_valid for row in surrogates)
    assert {row.sample.mutation for row in rows if row.deliberate} == {"lone_surrogate"}


def test_valid_generated_records_are_valid_for_both(rows: list[Row]) -> None:
    valid = [row for row in rows if row.sample.mutation == "valid"]
    assert valid
    refused = [row for row in valid if not (row.reference.valid and row.ours_valid)]
    assert not refused, (
        disagreement_table(refused)
        + "\n"
        + "\n".join(
            f"{r.sample.nsid}: reference={r.reference.error} ours={r.ours_message}" for r in refused[:10]
        )
    )


# Mutation classes that need a lexicon feature the tree may lack (Layers has none of these).
_NEEDS: dict[str, tuple[str, ...]] = {
    "string_too_long_graphemes": ("'maxGraphemes'",),
    "union_unknown_closed": ("'closed': True",),
    "const_enum_violation": ("'const'", "'enum'"),
}


def _applicable(tree: LexiconTree) -> set[str]:
    """Mutation classes this lexicon tree gives a place to."""
    text = repr([definition for _, _, definition in tree.walk_defs()])
    lacking = {name for name, marks in _NEEDS.items() if not any(mark in text for mark in marks)}
    return {m.name for m in MUTATIONS} - lacking


def test_every_breaking_mutation_is_refused_by_the_reference(rows: list[Row], tree: LexiconTree) -> None:
    # Guards against a vacuous pass: each mutation class meant to break a record does
    # break it for the reference, every time, and occurs in the corpus.
    seen = {row.sample.mutation for row in rows}
    missing = _applicable(tree) - seen
    assert not missing, f"mutation classes never exercised: {sorted(missing)}"
    for mutation in (m for m in MUTATIONS if m.expect is False and m.name in seen):
        mine = [row for row in rows if row.sample.mutation == mutation.name]
        accepted = [row.sample.detail for row in mine if row.reference.valid]
        assert not accepted, (
            f"{mutation.name}: reference accepted {len(accepted)}/{len(mine)}: {accepted[:5]}"
        )


def test_keeping_mutations_stay_valid_for_the_reference(rows: list[Row]) -> None:
    for mutation in (m for m in MUTATIONS if m.expect is True):
        mine = [row for row in rows if row.sample.mutation == mutation.name]
        refused = [(row.sample.detail, row.reference.error) for row in mine if not row.reference.valid]
        assert not refused, f"{mutation.name}: reference refused {len(refused)}/{len(mine)}: {refused[:5]}"
