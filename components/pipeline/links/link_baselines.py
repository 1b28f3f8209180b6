"""Rule-based linkers, the baselines a trained link model has to beat.

- `sentence_combinations`: every combination of one entity per role inside one sentence (the
  link model's candidate rule with `max_sentences=1`, all accepted).
- `nearest_to_effect`: one statement per EFFECT entity, joined with the nearest entity of every
  other role in its sentence.

Both read the entities of `entity_spans(doc)` unless given others. Fragments of one
discontinuous entity (spans sharing a label and a non-empty `span.id_`) count once, as their
first fragment: gold statements use that fragment, so a statement built on another one could
never match. Sentences come from `fgen.util.sentences.sentence_ids`, as for the link model.
"""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc, Span

from fgen.doc_layout import Link, entity_spans, set_links
from fgen.pipeline.links.link_candidates import ROLES, candidate_tuples
from fgen.util.sentences import sentence_ids

Baseline = Callable[..., List[Link]]


def first_fragments(spans: Sequence[Span]) -> List[Span]:
    """`spans` without the later fragments of discontinuous entities (same label and `id_`)."""
    seen: Set[Tuple[str, str]] = set()
    result = []
    for span in spans:
        if span.id_:
            if (span.label_, span.id_) in seen:
                continue
            seen.add((span.label_, span.id_))
        result.append(span)
    return result


def _unique(links: Iterable[Link]) -> List[Link]:
    """Links in order, each identical statement (same roles, offsets and labels) once."""
    seen = set()
    result = []
    for link in links:
        key = frozenset((role, s.start_char, s.end_char, s.label_) for role, s in link.items())
        if key not in seen:
            seen.add(key)
            result.append(link)
    return result


def sentence_combinations(doc: Doc, entities: Optional[Sequence[Span]] = None, roles: Sequence[str] = ROLES) -> List[Link]:
    """Every combination of one entity per role category inside one sentence.

    doc (Doc): the document; its sentences come from `sentence_ids`.
    entities (Optional[Sequence[Span]]): the entities to link; default `entity_spans(doc)`.
    roles (Sequence[str]): the categories a statement joins, one entity each.
    RETURNS (List[Dict[str, Span]]): the statements, by sentence and then in `roles` order.
    """
    ents = first_fragments(entity_spans(doc) if entities is None else entities)
    if not ents:
        return []
    candidates = candidate_tuples(ents, sentence_ids(doc), roles, max_sentences=1)
    return _unique({role: ents[i] for role, i in zip(roles, combo)} for combo in candidates)


def token_distance(a: Span, b: Span) -> int:
    """Tokens from one span to the other: 0 when they share a token, else the difference of
    the indices of their closest tokens (1 for adjacent spans)."""
    gap = max(a.start - b.end, b.start - a.end)  # tokens strictly between; negative on overlap
    return max(0, gap + 1)


def nearest_to_effect(
    doc: Doc, entities: Optional[Sequence[Span]] = None, roles: Sequence[str] = ROLES, hub: str = "EFFECT"
) -> List[Link]:
    """One statement per `hub` entity: it and, for every other role, the nearest entity of that
    category in the same sentence (`token_distance`; ties go to the earlier entity). A hub
    entity whose sentence lacks some role gets no statement.

    doc (Doc): the document; its sentences come from `sentence_ids`.
    entities (Optional[Sequence[Span]]): the entities to link; default `entity_spans(doc)`.
    roles (Sequence[str]): the categories a statement joins; must include `hub`.
    hub (str): the category every statement is built around.
    RETURNS (List[Dict[str, Span]]): the statements, in the order of their hub entities.
    """
    if hub not in roles:
        raise ValueError(f"hub {hub!r} is not one of the roles {list(roles)}")
    ents = first_fragments(entity_spans(doc) if entities is None else entities)
    if not ents:
        return []
    sent_ids = sentence_ids(doc)
    links = []
    for center in (e for e in ents if e.label_ == hub):
        sentence = sent_ids[center.start]
        link = {}
        for role in roles:
            if role == hub:
                link[role] = center
                continue
            pool = [e for e in ents if e.label_ == role and sent_ids[e.start] == sentence]
            if not pool:
                break
            link[role] = min(pool, key=lambda e: (token_distance(center, e), e.start, e.end))
        else:
            links.append(link)
    return _unique(links)


BASELINES: Dict[str, Baseline] = {
    "sentence": sentence_combinations,
    "nearest_effect": nearest_to_effect,
}


def link_with(baseline: str, docs: Iterable[Doc], **kwargs) -> None:
    """Set `doc._.links` of every doc to the statements of a baseline (scores None).

    baseline (str): a name in `BASELINES` ("sentence" or "nearest_effect").
    docs (Iterable[Doc]): the docs to link, changed in place; their entities are read from
        `entity_spans(doc)`.
    **kwargs: passed on to the baseline, e.g. `roles` or `hub`.
    """
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    linker = BASELINES[baseline]
    for doc in docs:
        set_links(doc, linker(doc, **kwargs))


__all__ = ["BASELINES", "link_with", "nearest_to_effect", "sentence_combinations", "token_distance", "first_fragments"]
