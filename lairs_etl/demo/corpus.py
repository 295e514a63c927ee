"""A small real Layers corpus across accounts: what the demo tracks by its URI alone.

Roles, over the accounts given (with fewer than three, one account plays several):

* the **curator** (first account) holds the ``pub.layers.corpus.corpus`` record, one
  membership per expression (splits train/dev/test, ordinals) and the annotation layers:
  named entities anchored by UTF-8 byte spans, parts of speech anchored by token index;
* the **writers** (the accounts in between) hold the expressions and their segmentations
  (whitespace tokens with byte spans; the Japanese sentence tokenized by hand);
* the **media** account (last) holds a ``pub.layers.media.media`` record with a short
  WAV blob, which the spoken expression names by ``mediaRef``.

Every actor is reachable from the corpus record by forward references (membership →
expression → media), so a closure from the URI finds them all. Each record is validated
against the lexicons before it is written: the demo's own data is always valid Layers.
"""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from lairs_etl.errors import ConfigError, RecordValidationError
from lairs_etl.localpds import Account
from lairs_etl.records import validate_record
from lairs_etl.records.anchors import temporal_span, text_span, token_ref
from lairs_etl.records.builders import to_json_form

__all__ = ["DemoLayersCorpus", "labels_by_split_sql", "seed_layers_corpus"]

_WHEN = "2025-06-01T12:00:00.000Z"
_EXPR = "pub.layers.expression.expression"
_SEG = "pub.layers.segmentation.segmentation"
_LAYER = "pub.layers.annotation.annotationLayer"
_CORPUS = "pub.layers.corpus.corpus"
_MEMBER = "pub.layers.corpus.membership"
_MEDIA = "pub.layers.media.media"

#: (split, text, tokens (None: split on spaces), entities as (surface, label), spoken)
_SENTENCES: tuple[tuple[str, str, tuple[str, ...] | None, tuple[tuple[str, str], ...], bool], ...] = (
    (
        "train",
        "Ada Lovelace wrote the first program in London.",
        None,
        (("Ada Lovelace", "PER"), ("London", "LOC")),
        False,
    ),
    ("train", "Marie Curie worked in Paris.", None, (("Marie Curie", "PER"), ("Paris", "LOC")), False),
    (
        "dev",
        "東京は日本の首都です。",
        ("東京", "は", "日本", "の", "首都", "です", "。"),
        (("東京", "LOC"), ("日本", "LOC")),
        False,
    ),
    ("test", "Café Müller opened in Zürich 🎉.", None, (("Café Müller", "ORG"), ("Zürich", "LOC")), False),
    ("test", "Welcome to the Layers demo.", None, (("Layers", "ORG"),), True),
)
#: Parts of speech of the first sentence's tokens, anchored by token index.
_POS = ("PROPN", "PROPN", "VERB", "DET", "ADJ", "NOUN", "ADP", "PROPN", "PUNCT")
#: Words and punctuation marks (what the segmentation calls tokens outside Japanese).
_TOKEN = re.compile(r"\w+|[^\w\s]")


def labels_by_split_sql(corpus_uri: str) -> str:
    """The demo's closing query: every label of the corpus with the text it covers, per split."""
    if "'" in corpus_uri:  # an AT-URI has none; refuse rather than quote
        raise ConfigError(f"not an AT-URI: {corpus_uri!r}")
    return (
        "SELECT m.split, a.label, a.anchor_text AS text, count(*) AS n FROM annotations a "  # noqa: S608  # checked above
        "JOIN corpus_members m ON m.expression_uri = a.expression_uri "
        f"WHERE m.corpus_uri = '{corpus_uri}' AND a.anchor_text IS NOT NULL "
        "GROUP BY ALL ORDER BY m.split, a.label, text"
    )


@dataclass(frozen=True, slots=True)
class DemoLayersCorpus:
    """The corpus seeded: its URI, the accounts in it (curator first), records written."""

    uri: str
    dids: tuple[str, ...]
    records: int
    expressions: int


def seed_layers_corpus(accounts: Sequence[Account], *, name: str = "Layers demo corpus") -> DemoLayersCorpus:
    """Write the corpus over ``accounts`` (see the module docstring); returns where it is.

    Raises:
        ConfigError: no accounts.
        RecordValidationError: a record this module builds breaks the lexicons (a bug here).
        XrpcError / TransportError: the PDS refused or could not be reached.
    """
    if not accounts:
        raise ConfigError("the demo corpus needs at least one account")
    curator, media_owner = accounts[0], accounts[-1]
    writers = list(accounts[1:-1]) or list(accounts[1:]) or [curator]
    written = 0

    def put(account: Account, collection: str, value: dict[str, JsonValue]) -> str:
        nonlocal written
        result = validate_record(value, nsid=collection)
        if not result.valid:
            raise RecordValidationError(
                f"demo {collection} record is invalid", diagnostics=result.diagnostics
            )
        written += 1
        return str(account.create_record(collection, value).uri)

    blob = media_owner.upload_blob(_wav(), "audio/wav")
    media_uri = put(
        media_owner,
        _MEDIA,
        {
            "$type": _MEDIA,
            "createdAt": _WHEN,
            "kind": "audio",
            "mimeType": "audio/wav",
            "blob": blob,
            "title": "Welcome",
            "durationMs": 500,
        },
    )
    corpus_uri = put(
        curator,
        _CORPUS,
        {
            "$type": _CORPUS,
            "createdAt": _WHEN,
            "name": name,
            "version": "1.0",
            "description": "Five sentences in three languages with entities and parts of speech.",
        },
    )
    for ordinal, (split, text, words, entities, spoken) in enumerate(_SENTENCES):
        writer = writers[ordinal % len(writers)]
        expression: dict[str, JsonValue] = {
            "$type": _EXPR,
            "createdAt": _WHEN,
            "id": f"s{ordinal + 1}",
            "kind": "sentence",
            "text": text,
        }
        if spoken:
            expression["mediaRef"] = media_uri
        expression_uri = put(writer, _EXPR, expression)
        tokens = words or tuple(_TOKEN.findall(text))
        tokenization = f"tok-{ordinal + 1}"
        put(writer, _SEG, _segmentation(expression_uri, text, tokens, tokenization))
        put(
            curator,
            _MEMBER,
            {
                "$type": _MEMBER,
                "createdAt": _WHEN,
                "corpusRef": corpus_uri,
                "expressionRef": expression_uri,
                "split": split,
                "ordinal": ordinal,
            },
        )
        annotations: list[JsonValue] = [
            _annotation(
                f"ner-{ordinal}-{i}",
                label,
                text_span(text, text.index(surface), text.index(surface) + len(surface)),
            )
            for i, (surface, label) in enumerate(entities)
        ]
        if spoken:
            annotations.append(_annotation(f"speech-{ordinal}", "SPEECH", temporal_span(0, 500)))
        put(curator, _LAYER, _layer(expression_uri, "span", "ner", annotations))
        if ordinal == 0:
            pos = [_annotation(f"pos-{i}", tag, token_ref(tokenization, i)) for i, tag in enumerate(_POS)]
            put(curator, _LAYER, _layer(expression_uri, "token-tag", "pos", pos, tokenization))
    dids = tuple(dict.fromkeys(str(a.did) for a in (curator, *writers, media_owner)))
    return DemoLayersCorpus(uri=corpus_uri, dids=dids, records=written, expressions=len(_SENTENCES))


def _annotation(uuid: str, label: str, anchor: object) -> JsonValue:
    return {"uuid": {"value": uuid}, "label": label, "anchor": to_json_form(anchor)}


def _layer(
    expression: str, kind: str, subkind: str, annotations: list[JsonValue], tokenization: str | None = None
) -> dict[str, JsonValue]:
    layer: dict[str, JsonValue] = {
        "$type": _LAYER,
        "createdAt": _WHEN,
        "expression": expression,
        "kind": kind,
        "subkind": subkind,
        "annotations": annotations,
    }
    if tokenization is not None:
        layer["tokenizationId"] = {"value": tokenization}
    return layer


def _segmentation(
    expression: str, text: str, tokens: Sequence[str], tokenization: str
) -> dict[str, JsonValue]:
    """Tokens with the byte spans where they occur in ``text``, in order."""
    encoded, position = text.encode(), 0
    items: list[JsonValue] = []
    for index, token in enumerate(tokens):
        start = encoded.index(token.encode(), position)
        position = start + len(token.encode())
        items.append(
            {"tokenIndex": index, "text": token, "textSpan": {"byteStart": start, "byteEnd": position}}
        )
    return {
        "$type": _SEG,
        "createdAt": _WHEN,
        "expression": expression,
        "tokenizations": [{"uuid": {"value": tokenization}, "kind": "custom", "tokens": items}],
    }


def _wav(milliseconds: int = 500, rate: int = 8000) -> bytes:
    """A short silent mono WAV: a real audio blob, a few KB."""
    sink = io.BytesIO()
    with wave.open(sink, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * (rate * milliseconds // 1000))
    return sink.getvalue()
