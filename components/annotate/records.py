"""The record of an annotated doc: what the JSONL output writes per line and the Parquet output
per row, so both carry the same fields."""
from typing import Any, Dict, Optional

from spacy.tokens import Doc, Span

from fgen.doc_layout import entity_spans, get_link_scores, get_links


def _float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _entity(span: Span) -> Dict[str, Any]:
    return {
        "start": span.start_char,
        "end": span.end_char,
        "text": span.text,
        "label": span.label_,
        "value": span.kb_id_,
        "confidence": _float(span._.confidence),
        "value_confidence": _float(span._.value_confidence),
    }


def doc_record(doc: Doc, doc_id: str) -> Dict[str, Any]:
    """The record of an annotated doc: `id`, `text`, `entities` (`entity_spans` order, char offsets,
    label, value, confidences) and `links`, the statements, each as {"members": {category: entity
    index}, "score": float}. A statement member that is not among the entities (not produced by
    fgen's components) is appended to the entities.

    doc (Doc): the annotated doc.
    doc_id (str): its id, e.g. the PMID.
    RETURNS (Dict[str, Any]): the record, JSON-serialisable.
    """
    spans = entity_spans(doc)
    index = {(s.start_char, s.end_char, s.label_): i for i, s in enumerate(spans)}
    links = []
    for link, score in zip(get_links(doc), get_link_scores(doc)):
        members = {}
        for role, span in link.items():
            key = (span.start_char, span.end_char, span.label_)
            if key not in index:
                index[key] = len(spans)
                spans.append(span)
            members[role] = index[key]
        links.append({"members": members, "score": _float(score)})
    return {"id": doc_id, "text": doc.text, "entities": [_entity(s) for s in spans], "links": links}
