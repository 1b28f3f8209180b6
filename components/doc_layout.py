"""Where fgen keeps annotations on a spaCy Doc (see docs/data-format.md).

- `doc.spans["fgen"]`: every annotated span (each fragment of a discontinuous entity is one
  span; fragments of one entity share `span.id_`, the MAE entity id). Label = category,
  `span.kb_id_` = normalised value.
- `doc.ents`: the same spans when none of them overlap.
- `doc._.links`: list of statements, each a dict category label -> Span.
- `doc._.link_scores`: one float (or None for gold links) per statement.
- `doc._.link_pairs`: (Span, Span, probability) per entity pair the link component scored:
  its belief that the two share a statement (pairs of entities within a candidate statement).
- `doc._.provenance`: dict with pmid, source, annotator, scheme, folder, links_annotated.
- `span._.confidence` / `span._.value_confidence`: the model's confidence in a predicted
  entity and in its value (None for gold spans). Stored per character range in
  `doc.user_data`, so they survive a DocBin and read the same from `doc.ents` and
  `doc.spans["fgen"]`.

Links and provenance live in `doc.user_data`, so they survive `DocBin(store_user_data=True)`;
importing `fgen` registers the extensions, nothing else is needed to read them back.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

SPAN_KEY = "fgen"
LINKS_KEY = "fgen.links"
LINK_PAIRS_KEY = "fgen.link_pairs"

Link = Dict[str, Span]


def _span_record(span: Span) -> list:
    return [span.start_char, span.end_char, span.label_, span.kb_id_, span.id_]


def _span_of(doc: Doc, record: Sequence[Any]) -> Span:
    start, end, label, kb_id, span_id = record
    span = doc.char_span(start, end, label=label, kb_id=kb_id, span_id=span_id)
    if span is None:
        raise ValueError(f"span at {start}~{end} is not on token boundaries of this Doc")
    return span


def get_links(doc: Doc) -> List[Link]:
    """The statements of `doc` as dicts category -> Span (a new list on every call)."""
    links = []
    for entry in doc.user_data.get(LINKS_KEY, []):
        links.append({role: _span_of(doc, record) for role, record in entry["members"].items()})
    return links


def get_link_scores(doc: Doc) -> List[Optional[float]]:
    """One score per statement in `doc._.links`; None where the link is gold."""
    return [entry.get("score") for entry in doc.user_data.get(LINKS_KEY, [])]


def set_links(doc: Doc, links: Sequence[Link], scores: Optional[Sequence[Optional[float]]] = None) -> None:
    """Store statements (and optionally their scores) on `doc`.

    doc (Doc): the document the spans belong to.
    links (Sequence[Dict[str, Span]]): statements, category label -> Span.
    scores (Optional[Sequence[float]]): one score per statement, e.g. from the link component.
    """
    if scores is not None and len(scores) != len(links):
        raise ValueError(f"{len(scores)} scores for {len(links)} links")
    entries = []
    for i, link in enumerate(links):
        for role, span in link.items():
            if span.doc is not doc:
                raise ValueError(f"link member {role} {span.text!r} belongs to another Doc")
        entry: dict = {"members": {role: _span_record(span) for role, span in link.items()}}
        if scores is not None and scores[i] is not None:
            entry["score"] = float(scores[i])
        entries.append(entry)
    doc.user_data[LINKS_KEY] = entries


def get_link_pairs(doc: Doc) -> List[Tuple[Span, Span, float]]:
    """The scored entity pairs of `doc` (a new list on every call)."""
    return [(_span_of(doc, a), _span_of(doc, b), score) for a, b, score in doc.user_data.get(LINK_PAIRS_KEY, [])]


def set_link_pairs(doc: Doc, pairs: Sequence[Tuple[Span, Span, float]]) -> None:
    """Store scored entity pairs on `doc`.

    doc (Doc): the document the spans belong to.
    pairs (Sequence[Tuple[Span, Span, float]]): two entities and the probability that they
        share a statement.
    """
    doc.user_data[LINK_PAIRS_KEY] = [[_span_record(a), _span_record(b), float(p)] for a, b, p in pairs]


def register_extensions() -> None:
    """Register `doc._.links`, `doc._.link_scores`, `doc._.link_pairs`, `doc._.provenance`, `span._.confidence`
    and `span._.value_confidence` (idempotent)."""
    if not Doc.has_extension("links"):
        Doc.set_extension("links", getter=get_links, setter=set_links)
    if not Doc.has_extension("link_scores"):
        Doc.set_extension("link_scores", getter=get_link_scores)
    if not Doc.has_extension("link_pairs"):
        Doc.set_extension("link_pairs", getter=get_link_pairs)
    if not Doc.has_extension("provenance"):
        Doc.set_extension("provenance", default=None)
    for name in ("confidence", "value_confidence"):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)


def entity_spans(doc: Doc, spans_key: str = SPAN_KEY) -> List[Span]:
    """The entities of `doc`: the span group `spans_key` when the doc has it, else `doc.ents`.

    The group is the full annotation (it may hold overlapping V1 spans, or a spancat's output);
    `doc.ents` serves pipelines that only set entities.
    """
    if spans_key in doc.spans:
        return list(doc.spans[spans_key])
    return list(doc.ents)


def has_entities(doc: Doc) -> bool:
    """Whether `doc` has any entity (`entity_spans`): the corpus keeps abstracts annotated as
    holding none."""
    return bool(entity_spans(doc))


def links_annotated(doc: Doc) -> bool:
    """Whether `doc`'s statements were annotated, so that its `doc._.links` (even none) are the truth.

    The provenance decides when it says (`doc._.provenance["links_annotated"]`, set by the
    corpus conversion: abstracts from the entities-only folders say False). A doc without that
    flag was made by hand, by whoever set its links, and counts as annotated. Training
    (`fgen_links`), scoring (`links_*`), the splits' links subsets and the corpus report all use
    this one definition, so a doc is a source of negatives exactly when it is scored.
    """
    provenance = doc._.provenance
    if isinstance(provenance, dict) and "links_annotated" in provenance:
        return bool(provenance["links_annotated"])
    return True


def spans_overlap(spans: Sequence[Span]) -> bool:
    """Whether any two spans share a token."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    return any(b.start < a.end for a, b in zip(ordered, ordered[1:]))
