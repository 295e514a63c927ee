"""Key spans: which subtrees can hold keys of interest, so walks fetch only those.

A subtree slot covers the open interval between its parent's neighbouring keys; a
:class:`KeySpan` is a half-open interval ``[start, end)``. Whether the two can meet is
decided from the bounds alone, before the subtree's node is fetched, which is what lets
a partial sync of ``pub.layers.*`` skip every other collection's nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["KeySpan", "key_filter", "spans_overlap"]


@dataclass(frozen=True, slots=True)
class KeySpan:
    """Keys ``k`` with ``start <= k < end`` (``end`` ``None``: no upper bound)."""

    start: str
    end: str | None

    @classmethod
    def for_prefix(cls, prefix: str) -> KeySpan:
        """Every key starting with ``prefix`` (keys are ASCII, see :mod:`.keys`)."""
        if not prefix:
            return cls("", None)
        return cls(prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in the span."""
        return self.start <= key and (self.end is None or key < self.end)

    def overlaps(self, lo: str | None, hi: str | None) -> bool:
        """Whether some key strictly between ``lo`` and ``hi`` may be in the span.

        Errs only towards ``True`` (at a boundary no real key set can fill), so a walk
        pruned with it never misses a key.
        """
        return (hi is None or self.start < hi) and (self.end is None or lo is None or lo < self.end)


def key_filter(
    prefixes: Iterable[str] | None, spans: Iterable[KeySpan] | None
) -> tuple[KeySpan, ...] | None:
    """The spans a walk keeps: the union of ``prefixes`` and ``spans``; ``None`` keeps all."""
    if prefixes is None and spans is None:
        return None
    return (*(KeySpan.for_prefix(p) for p in prefixes or ()), *(spans or ()))


def spans_overlap(spans: Sequence[KeySpan] | None, lo: str | None, hi: str | None) -> bool:
    """Whether the open interval ``(lo, hi)`` can hold a key of any span (``None``: all)."""
    return spans is None or any(s.overlaps(lo, hi) for s in spans)
