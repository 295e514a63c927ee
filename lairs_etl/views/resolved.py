"""Warehouse views that resolve references in SQL: corpus members, and the text anchors cover.

Both are plain DuckDB views over the lake's tables, so a dashboard (or any engine given
the same SQL) reads them as of the same snapshot as the rest, and an anchor into another
actor's expression resolves as soon as that expression is in the lake.

* ``corpus_members``: one row per ``pub.layers.corpus.membership``, with its corpus's
  name and version, so that ``annotations`` and ``tokens`` (``expression_uri``),
  ``judgments`` (``item_recordRef``) and ``expressions`` (``uri``) join to a corpus and
  split in one join on the expression's URI.
* ``tokens`` gains ``expression_uri``, ``span_text`` (what its ``textSpan`` covers) and
  ``span_error`` (the byte checks below, or the token's own text differing from it).
* ``annotations`` gains ``expression_uri``, ``anchor_text`` (a ``textSpan``'s UTF-8 byte
  offsets cut out of the expression's ``text``, or its character offsets when the bytes
  are absent; a ``tokenRef``/``tokenRefSequence``'s tokens through the tokenization with
  that id in a segmentation of the same expression), ``anchor_start_ms``/``anchor_end_ms``
  (temporal spans) and ``anchor_error``: why a text or token anchor has no text (an
  offset out of range or inside a UTF-8 character, an expression or token not in the
  lake), per row, never a failed query.

Byte offsets slice the text's UTF-8 bytes (a BLOB), and only at character boundaries
(the byte at each offset is checked not to be a continuation byte), so the decoded
slice is always valid UTF-8. When a span gives character offsets too they must cover
the same text. Tokens must come from one segmentation: two segmentations of the
expression using the same tokenization id make the anchor ambiguous. Columns are only
referenced when the lake's schema has them: a Layers release without one of them leaves
the derived column NULL instead of failing the build.
"""

# ruff: noqa: S608  # SQL from constants and the lake's column names (lexicon property names: no quotes)
from __future__ import annotations

from collections.abc import Collection

import duckdb

__all__ = ["CORPUS_MEMBERS", "MEMBERSHIP_VIEW", "RESOLVED_DATASETS", "base_name", "create_resolved_views"]

#: Datasets whose warehouse view is derived: the scan is kept under :func:`base_name`.
RESOLVED_DATASETS = frozenset({"annotations", "tokens"})
CORPUS_MEMBERS = "corpus_members"

_EXPRESSIONS = "pub_layers_expression_expression"
MEMBERSHIP_VIEW = _MEMBERSHIPS = "pub_layers_corpus_membership"
_CORPORA = "pub_layers_corpus_corpus"
_CONTINUATION = "('8', '9', 'A', 'B')"  # first hex digit of a UTF-8 continuation byte
_AMBIGUOUS = "'ambiguous token: several segmentations of the expression use that tokenization id'"


def base_name(dataset: str) -> str:
    """The warehouse name of a resolved dataset's own rows (its view reads from it)."""
    return f"lairs_base_{dataset}"


def create_resolved_views(con: duckdb.DuckDBPyConnection, names: Collection[str], *, temporary: bool) -> None:
    """Create ``annotations``, ``tokens`` and ``corpus_members`` over the views ``names`` already created."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    if base_name("annotations") in names:
        query = _annotations(con, names)
        con.execute(f"CREATE OR REPLACE {kind} annotations AS {query}")
    if base_name("tokens") in names:
        con.execute(f"CREATE OR REPLACE {kind} tokens AS {_tokens(con, names)}")
    if _MEMBERSHIPS in names:
        con.execute(f"CREATE OR REPLACE {kind} {CORPUS_MEMBERS} AS {_corpus_members(con, names)}")


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    return {row[0] for row in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description or ()}


def _corpus_members(con: duckdb.DuckDBPyConnection, names: Collection[str]) -> str:
    m = _columns(con, _MEMBERSHIPS)
    corpus_ref = _col(m, "m", "corpusRef")
    corpus_join = f"LEFT JOIN {_CORPORA} c ON c.uri = {corpus_ref}" if _CORPORA in names else ""
    c = _columns(con, _CORPORA) if corpus_join else set()
    return (
        f"SELECT {_col(m, 'm', 'corpusRef')} AS corpus_uri, {_col(c, 'c', 'name')} AS corpus_name, "
        f"{_col(c, 'c', 'version')} AS corpus_version, m.uri AS membership_uri, "
        f"{_col(m, 'm', 'expressionRef')} AS expression_uri, {_col(m, 'm', 'split')} AS split, "
        f"{_col(m, 'm', 'splitUri')} AS split_uri, {_col(m, 'm', 'ordinal')} AS ordinal, m.did AS actor, "
        f"split_part({_col(m, 'm', 'expressionRef')}, '/', 3) AS expression_actor "
        f"FROM {_MEMBERSHIPS} m {corpus_join}"
    )


_HELPERS = (
    "lairs_found",
    "lairs_text",
    "lairs_blob",
    "lairs_bytes",
    "lairs_ref",
    "lairs_ref_variants",
    "lairs_seq",
    "lairs_seq_found",
    "lairs_seq_variants",
)


def _annotations(con: duckdb.DuckDBPyConnection, names: Collection[str]) -> str:
    """Three levels: join what anchors point at, judge each anchor, cut the text of the sound ones."""
    base = base_name("annotations")
    a = _columns(con, base)
    expression = _col(a, "a", "layer_expression")
    join, text_helpers = _expression_join(con, names, expression)
    joins, helpers = [join], [text_helpers]
    token_joins = _token_joins(con, names, a, expression)
    if token_joins:
        joins.extend(token_joins)
        helpers.append(
            "tr.text AS lairs_ref, tr.variants AS lairs_ref_variants, ts.text AS lairs_seq, "
            "coalesce(ts.found, 0) AS lairs_seq_found, ts.variants AS lairs_seq_variants"
        )
    else:
        helpers.append(
            "NULL AS lairs_ref, NULL AS lairs_ref_variants, NULL AS lairs_seq, 0 AS lairs_seq_found, "
            "NULL AS lairs_seq_variants"
        )
    start = _first(a, "anchor_temporalSpan_start", "anchor_spatioTemporalAnchor_temporalSpan_start")
    end = _first(a, "anchor_temporalSpan_ending", "anchor_spatioTemporalAnchor_temporalSpan_ending")
    joined = (
        f"SELECT a.*, {expression} AS expression_uri, {start} AS anchor_start_ms, {end} AS anchor_end_ms, "
        f"{', '.join(helpers)} FROM {base} a {' '.join(joins)}"
    )
    bs, be = _col(a, "", "anchor_textSpan_byteStart"), _col(a, "", "anchor_textSpan_byteEnd")
    cs, ce = _col(a, "", "anchor_textSpan_charStart"), _col(a, "", "anchor_textSpan_charEnd")
    one = _col(a, "", "anchor_tokenRef_tokenIndex")
    seq = _col(a, "", "anchor_tokenRefSequence_tokenIndexes")
    by_bytes = f"decode(lairs_blob[{bs} + 1:{be}])"
    by_chars = f"substring(lairs_text, {cs} + 1, {ce} - {cs})"
    chars_bad = f"({cs} IS NULL) <> ({ce} IS NULL) OR {cs} < 0 OR {cs} > {ce} OR {ce} > length(lairs_text)"
    text_error = (
        "CASE WHEN lairs_found IS NULL THEN 'expression not in the lake' "
        "WHEN lairs_text IS NULL THEN 'expression has no text' "
        f"WHEN {bs} IS NOT NULL THEN CASE {_byte_checks(bs, be)}"
        f"WHEN {cs} IS NOT NULL OR {ce} IS NOT NULL THEN CASE "
        f"WHEN {chars_bad} THEN 'character offsets beyond the text' "
        f"WHEN {by_chars} <> {by_bytes} THEN 'character and byte offsets disagree' END END "
        f"WHEN {chars_bad} THEN 'character offsets beyond the text' END"
    )
    judged = (
        f"SELECT *, CASE WHEN {bs} IS NOT NULL OR {cs} IS NOT NULL THEN {text_error} "
        f"WHEN {one} IS NOT NULL AND lairs_ref IS NULL THEN 'token not in the lake' "
        f"WHEN {one} IS NOT NULL AND lairs_ref_variants > 1 THEN {_AMBIGUOUS} "
        f"WHEN {seq} IS NOT NULL AND length({seq}) = 0 THEN 'no token indexes' "
        f"WHEN {seq} IS NOT NULL AND lairs_seq_found < length(list_distinct({seq})) "
        "THEN 'token not in the lake' "
        f"WHEN {seq} IS NOT NULL AND lairs_seq_variants > 1 THEN {_AMBIGUOUS} END AS anchor_error "
        f"FROM ({joined})"
    )
    text = (
        f"CASE WHEN anchor_error IS NOT NULL THEN NULL "
        f"WHEN {bs} IS NOT NULL THEN {by_bytes} "
        f"WHEN {cs} IS NOT NULL THEN {by_chars} "
        f"WHEN {one} IS NOT NULL THEN lairs_ref WHEN {seq} IS NOT NULL THEN lairs_seq END"
    )
    return f"SELECT * EXCLUDE ({', '.join(_HELPERS)}), {text} AS anchor_text FROM ({judged})"


def _expression_join(con: duckdb.DuckDBPyConnection, names: Collection[str], on: str) -> tuple[str, str]:
    """The join to the expression named by ``on``, and the helper columns it gives.

    ``lairs_found`` (its uri: NULL when not in the lake), ``lairs_text``, ``lairs_blob``
    (the text's UTF-8 bytes) and ``lairs_bytes`` (their count); all NULL without an
    expression table.
    """
    if _EXPRESSIONS not in names or not {"uri", "text"} <= _columns(con, _EXPRESSIONS):
        return "", "NULL AS lairs_found, NULL AS lairs_text, NULL AS lairs_blob, NULL AS lairs_bytes"
    join = (
        "LEFT JOIN (SELECT uri, text, encode(text) AS blob, octet_length(encode(text)) AS bytes "
        f"FROM {_EXPRESSIONS}) e ON e.uri = {on}"
    )
    return join, "e.uri AS lairs_found, e.text AS lairs_text, e.blob AS lairs_blob, e.bytes AS lairs_bytes"


def _byte_checks(bs: str, be: str) -> str:
    """``WHEN … THEN '<error>'`` arms judging UTF-8 byte offsets ``bs``/``be`` against ``lairs_blob``."""
    return (
        f"WHEN {be} IS NULL THEN 'byteStart without byteEnd' "
        f"WHEN {bs} < 0 OR {bs} > {be} THEN 'byteStart after byteEnd' "
        f"WHEN {be} > lairs_bytes THEN 'byte offsets beyond the text (' || lairs_bytes || ' bytes)' "
        f"WHEN {bs} < lairs_bytes AND left(hex(lairs_blob[{bs} + 1:{bs} + 1]), 1) IN {_CONTINUATION} "
        "THEN 'byteStart inside a UTF-8 character' "
        f"WHEN {be} < lairs_bytes AND left(hex(lairs_blob[{be} + 1:{be} + 1]), 1) IN {_CONTINUATION} "
        "THEN 'byteEnd inside a UTF-8 character' "
    )


def _tokens(con: duckdb.DuckDBPyConnection, names: Collection[str]) -> str:
    """Tokens with the expression their span is into, the text it covers, and why not."""
    base = base_name("tokens")
    t = _columns(con, base)
    scoped, whole = _col(t, "t", "tokenization_expressionRef"), _col(t, "t", "segmentation_expression")
    expression = f"coalesce({scoped}, {whole})"  # a tokenization may scope to a sub-expression
    join, helpers = _expression_join(con, names, expression)
    bs, be = _col(t, "", "textSpan_byteStart"), _col(t, "", "textSpan_byteEnd")
    text = _col(t, "", "text")
    joined = f"SELECT t.*, {expression} AS expression_uri, {helpers} FROM {base} t {join}"
    covered = f"decode(lairs_blob[{bs} + 1:{be}])"
    judged = (
        f"SELECT *, CASE WHEN {bs} IS NULL THEN NULL "
        "WHEN lairs_found IS NULL THEN 'expression not in the lake' "
        "WHEN lairs_text IS NULL THEN 'expression has no text' "
        f"{_byte_checks(bs, be)}"
        f"WHEN {text} IS NOT NULL AND {text} <> {covered} THEN 'token text and span disagree' "
        f"END AS span_error FROM ({joined})"
    )
    helper_names = "lairs_found, lairs_text, lairs_blob, lairs_bytes"
    return (
        f"SELECT * EXCLUDE ({helper_names}), CASE WHEN span_error IS NULL AND {bs} IS NOT NULL "
        f"THEN {covered} END AS span_text FROM ({judged})"
    )


def _col(columns: set[str], alias: str, name: str) -> str:
    """``alias."name"`` (or plain ``"name"``) when the schema has it, else NULL."""
    if name not in columns:
        return "NULL"
    return f'{alias}."{name}"' if alias else f'"{name}"'


def _first(columns: set[str], *names: str) -> str:
    present = [f'a."{n}"' for n in names if n in columns]
    return f"coalesce({', '.join(present)})" if len(present) > 1 else (present[0] if present else "NULL")


def _token_joins(
    con: duckdb.DuckDBPyConnection, names: Collection[str], a: set[str], expression: str
) -> list[str]:
    """The joins to ``tokens`` for one token (``tr``) and a sequence (``ts``); none without tokens."""
    wanted = {"segmentation_uri", "segmentation_expression", "tokenization_uuid_value", "tokenIndex", "text"}
    source = base_name("tokens") if base_name("tokens") in names else "tokens"
    if source not in names or not wanted <= _columns(con, source):
        return []
    tokens = (
        'SELECT segmentation_expression AS expr, tokenization_uuid_value AS tz, "tokenIndex" AS ix, '
        f"min(text) AS text, count(DISTINCT segmentation_uri) AS variants FROM {source} GROUP BY ALL"
    )
    indexes = _col(a, "a", "anchor_tokenRefSequence_tokenIndexes")
    # Sequences are resolved for the annotations that have one, then joined back by the
    # annotation's key: a correlated (lateral) join would be planned over every row, and
    # cost a query that never reads anchor_text 30x a plain scan (bench/lake_iceberg.py).
    sequences = (
        "SELECT s.layer_uri, s.annotation_position, "
        "string_agg(t.text, ' ' ORDER BY list_position(s.ixs, t.ix)) AS text, "
        "count(DISTINCT t.ix) AS found, max(t.variants) AS variants "
        f"FROM (SELECT a.layer_uri, a.annotation_position, {expression} AS expr, "
        f"{_col(a, 'a', 'anchor_tokenRefSequence_tokenizationId_value')} AS tz, {indexes} AS ixs "
        f"FROM {base_name('annotations')} a WHERE {indexes} IS NOT NULL) s "
        f"JOIN ({tokens}) t ON t.expr = s.expr AND t.tz = s.tz AND list_contains(s.ixs, t.ix) "
        "GROUP BY s.layer_uri, s.annotation_position"
    )
    return [
        f"LEFT JOIN ({tokens}) tr ON tr.expr = {expression} "
        f"AND tr.tz = {_col(a, 'a', 'anchor_tokenRef_tokenizationId_value')} "
        f"AND tr.ix = {_col(a, 'a', 'anchor_tokenRef_tokenIndex')}",
        f"LEFT JOIN ({sequences}) ts ON ts.layer_uri = a.layer_uri "
        "AND ts.annotation_position = a.annotation_position",
    ]
