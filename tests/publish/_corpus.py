"""A demo corpus built with the builders: cross-references and three reference cycles."""

from __future__ import annotations

from datetime import UTC, datetime

from lairs_etl.atproto.syntax import AtUri
from lairs_etl.records.anchors import text_span, token_ref
from lairs_etl.records.builders import RecordBatch, TidSequence, build_object, build_record

NOW = "2026-01-02T03:04:05.000Z"
TEXT = "Der schnelle braune Fuchs springt über den faulen Hund."


def demo_batch(did: str, *, expressions: int = 5, start: datetime | None = None) -> RecordBatch:
    """corpus↔eprint, expression↔media and ontology↔persona cycles, plus layers and typeDefs."""
    batch = RecordBatch(did, tids=TidSequence(start or datetime(2026, 1, 1, tzinfo=UTC), clock_id=7))
    corpus, eprint = batch.reserve("pub.layers.corpus.corpus"), batch.reserve("pub.layers.eprint.eprint")
    ontology, persona = (
        batch.reserve("pub.layers.ontology.ontology"),
        batch.reserve("pub.layers.persona.persona"),
    )
    batch.add(
        build_record(
            "pub.layers.corpus.corpus",
            name="demo",
            createdAt=NOW,
            eprintRefs=[eprint],
            ontologyRefs=[ontology],
        ),
        rkey=corpus.rkey,
    )
    batch.add(
        build_record(
            "pub.layers.eprint.eprint",
            eprintIdentifier="10.1234/demo",
            linkType="described-in",
            corpusRef=corpus,
            createdAt=NOW,
        ),
        rkey=eprint.rkey,
    )
    batch.add(
        build_record("pub.layers.ontology.ontology", name="ud", personaRef=persona, createdAt=NOW),
        rkey=ontology.rkey,
    )
    batch.add(
        build_record("pub.layers.persona.persona", name="linguist", ontologyRefs=[ontology], createdAt=NOW),
        rkey=persona.rkey,
    )
    noun = batch.add(
        build_record(
            "pub.layers.ontology.typeDef",
            name="NOUN",
            typeKind="entity-type",
            ontologyRef=ontology,
            createdAt=NOW,
        )
    )
    for i in range(expressions):
        add_document(batch, i, corpus=corpus, noun=noun)
    return batch


def add_document(batch: RecordBatch, i: int, *, corpus: AtUri, noun: AtUri) -> AtUri:
    """An expression↔media pair, its membership and one annotation layer."""
    expression = batch.reserve("pub.layers.expression.expression")
    media = batch.add(
        build_record(
            "pub.layers.media.media",
            kind="audio",
            createdAt=NOW,
            audio=build_object("pub.layers.media.defs#audioInfo", transcriptRef=expression),
        )
    )
    batch.add(
        build_record(
            "pub.layers.expression.expression",
            id=f"doc-{i}",
            kind="document",
            text=f"{TEXT} ({i})",
            mediaRef=media,
            createdAt=NOW,
        ),
        rkey=expression.rkey,
    )
    batch.add(
        build_record(
            "pub.layers.corpus.membership", corpusRef=corpus, expressionRef=expression, createdAt=NOW
        )
    )
    batch.add(
        build_record(
            "pub.layers.annotation.annotationLayer",
            expression=expression,
            kind="token-tag",
            createdAt=NOW,
            annotations=[
                {
                    "uuid": {"value": f"a{i}"},
                    "label": "NOUN",
                    "ontologyTypeRef": noun,
                    "anchor": text_span(TEXT, 20, 25),
                },
                {"uuid": {"value": f"b{i}"}, "label": "X", "anchor": token_ref("tok-1", 3)},
            ],
        )
    )
    return expression
