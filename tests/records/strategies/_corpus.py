"""Records as hypothesis strategies, and a seeded corpus of them for batch comparisons."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from ._mutations import MUTATIONS, Context, Mutation
from ._tree import LexiconTree
from ._values import Generator

# Kinds that sit deep in optional fields: some records are steered towards them so their
# mutations (union members, blobs) are exercised on every run.
_STEER_KINDS = (None, "union", "union", "blob")


@dataclass(frozen=True)
class Sample:
    """A generated record, the mutation applied to it and the verdict it should get."""

    nsid: str
    mutation: str
    expect: bool | None
    detail: str
    record: dict[str, Any]


def valid_records(tree: LexiconTree, nsid: str) -> st.SearchStrategy[dict[str, Any]]:
    """Records of type ``nsid`` that satisfy their lexicon."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        return Generator(tree, draw).record(nsid)

    return build()


def samples(
    tree: LexiconTree, nsid: str, mutations: tuple[Mutation, ...] = MUTATIONS
) -> st.SearchStrategy[list[Sample]]:
    """One valid record of type ``nsid`` plus one mutant per applicable mutation."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Sample]:
        toward = draw(st.sampled_from(_STEER_KINDS))
        gen = Generator(tree, draw, steer=tree.leading_to(toward) if toward else frozenset())
        record = gen.record(nsid)
        sites = tuple(gen.sites)
        out = [Sample(nsid, "valid", True, "", record)]
        for mutation in mutations:
            ctx = Context(copy.deepcopy(record), sites, draw, Generator(tree, draw))
            detail = mutation.apply(ctx)
            if detail is not None:
                out.append(Sample(nsid, mutation.name, mutation.expect, detail, ctx.record))
        return out

    return build()


def corpus(tree: LexiconTree, *, per_type: int = 12, seed_value: int = 20261121) -> list[Sample]:
    """A deterministic corpus: ``per_type`` generated records of every record type, each with its mutants."""
    out: list[Sample] = []
    for nsid in tree.record_types:
        out.extend(_run(samples(tree, nsid), per_type, seed_value))
    return out


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep generation independent of which modules happen to be imported.

    Hypothesis mixes literals from every loaded local module into what it draws, so the
    same seed gave a slightly different corpus depending on the tests collected with it.
    This is private Hypothesis API: when it moves, the corpus is merely less stable.
    """
    from hypothesis.internal.conjecture import providers

    original = getattr(providers, "_get_local_constants", None)
    if original is None:
        yield
        return
    empty = original()  # a Constants of the right type, emptied below
    blank = type(empty)(
        integers=type(empty.integers)(),
        floats=type(empty.floats)(key=empty.floats.key),
        bytes=type(empty.bytes)(),
        strings=type(empty.strings)(),
    )
    providers._get_local_constants = lambda: blank
    try:
        yield
    finally:
        providers._get_local_constants = original


def _run(strategy: st.SearchStrategy[list[Sample]], count: int, seed_value: int) -> list[Sample]:
    collected: list[Sample] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(batch: list[Sample]) -> None:
        collected.extend(batch)

    with _without_local_constants():
        collect()
    return collected
