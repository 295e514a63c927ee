"""Run a corpus through our validator and the reference; tabulate where they differ."""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from dataclasses import dataclass

from lairs_etl.records import validate_record

from .reference import ReferenceVerdict
from .strategies import Sample


@dataclass(frozen=True)
class Row:
    sample: Sample
    reference: ReferenceVerdict
    ours_valid: bool
    ours_message: str
    ours_codes: frozenset[str] = frozenset()

    @property
    def deliberate(self) -> bool:
        """A documented difference: we refuse what DAG-CBOR cannot hold (``data_model``);
        the reference validates JSON values, where such values cannot occur."""
        return self.reference.valid and not self.ours_valid and self.ours_codes == {"data_model"}

    @property
    def agrees(self) -> bool:
        return self.reference.valid == self.ours_valid or self.deliberate


def compare(samples: Sequence[Sample], reference: Sequence[ReferenceVerdict]) -> list[Row]:
    rows = []
    for sample, ref in zip(samples, reference, strict=True):
        result = validate_record(sample.record)
        message = "; ".join(f"{d.path} [{d.code}] {d.message}" for d in result.diagnostics[:3])
        codes = frozenset(d.code for d in result.diagnostics)
        rows.append(Row(sample, ref, result.valid, message, codes))
    return rows


def summary(rows: Sequence[Row]) -> str:
    """Per mutation: records, reference-invalid count, disagreements."""
    by: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in rows:
        tally = by[row.sample.mutation]
        tally["records"] += 1
        tally["reference invalid"] += not row.reference.valid
        tally["ours invalid"] += not row.ours_valid
        tally["disagree"] += not row.agrees
        tally["deliberate"] += row.deliberate
    lines = [
        "| mutation | records | reference invalid | ours invalid | disagree | deliberate (data_model) |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in sorted(by.items()):
        lines.append(
            f"| {name} | {t['records']} | {t['reference invalid']} | {t['ours invalid']} | {t['disagree']} "
            f"| {t['deliberate']} |"
        )
    return "\n".join(lines)


def disagreement_table(rows: Sequence[Row], *, limit: int | None = 80, with_records: bool = False) -> str:
    """Markdown: record type, mutation, what was changed, both verdicts and both messages."""
    bad = [row for row in rows if not row.agrees]
    lines = [
        f"{len(bad)} disagreements of {len(rows)} records",
        "",
        "| type | mutation | change | reference | ours | reference message | our diagnostics |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in bad[:limit]:
        s = row.sample
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    s.nsid.removeprefix("pub.layers."),
                    s.mutation,
                    s.detail,
                    "valid" if row.reference.valid else "invalid",
                    "valid" if row.ours_valid else "invalid",
                    row.reference.error or "",
                    row.ours_message,
                )
            )
            + " |"
        )
        if with_records:
            lines.append(f"|  | record | `{_cell(json.dumps(s.record))}` |  |  |  |  |")
    if limit is not None and len(bad) > limit:
        lines.append(f"... {len(bad) - limit} more")
    return "\n".join(lines)


def _cell(text: str, width: int = 240) -> str:
    text = text.replace("|", "\\|").replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"
