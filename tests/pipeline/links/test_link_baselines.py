"""Baseline linkers (fgen.pipeline.links.link_baselines) on hand-made docs."""
from typing import List, Sequence, Tuple

import pytest
import spacy
from spacy.tokens import Doc, Span

from fgen.doc_layout import SPAN_KEY
from fgen.pipeline.links.link_baselines import (
    BASELINES,
    first_fragments,
    link_with,
    nearest_to_effect,
    sentence_combinations,
    token_distance,
)
from fgen.pipeline.links.link_candidates import ROLES

NLP = spacy.blank("en")
LABELS = {"PA": "PERTURBING_ACTION", "CX": "CONTEXT", "EF": "EFFECT", "PH": "PHENOTYPE"}


def make_doc(text: str, extra: Sequence[Tuple[int, int, str, str]] = ()) -> Doc:
    """Every token like PA1, CX2, ... is an entity labelled by its prefix; `extra` adds spans
    (start token, end token, label, span id)."""
    doc = NLP.make_doc(text)
    spans = [Span(doc, t.i, t.i + 1, label=LABELS[t.text[:2]]) for t in doc if t.text[:2] in LABELS]
    spans += [doc.char_span(doc[s].idx, doc[e - 1].idx + len(doc[e - 1]), label=l, span_id=i) for s, e, l, i in extra]
    doc.spans[SPAN_KEY] = spans
    return doc


def texts(links) -> List[Tuple[str, ...]]:
    """Statements as member texts in ROLES order."""
    return [tuple(link[role].text for role in ROLES) for link in links]


TWO_SENTENCES = "PA1 and PA2 in CX1 cause EF1 of PH1 . PA3 in CX2 causes EF2 of PH2 and PH3 ."


def test_sentence_combinations_stay_in_sentences():
    doc = make_doc(TWO_SENTENCES)
    assert texts(sentence_combinations(doc)) == [
        ("PA1", "CX1", "EF1", "PH1"),
        ("PA2", "CX1", "EF1", "PH1"),
        ("PA3", "CX2", "EF2", "PH2"),
        ("PA3", "CX2", "EF2", "PH3"),
    ]


def test_sentence_combinations_given_entities_and_roles():
    doc = make_doc(TWO_SENTENCES)
    ents = [s for s in doc.spans[SPAN_KEY] if s.text != "PA2"]
    assert texts(sentence_combinations(doc, ents))[:1] == [("PA1", "CX1", "EF1", "PH1")]
    assert len(sentence_combinations(doc, ents)) == 3
    pairs = sentence_combinations(doc, roles=("EFFECT", "PHENOTYPE"))
    assert [(l["EFFECT"].text, l["PHENOTYPE"].text) for l in pairs] == [("EF1", "PH1"), ("EF2", "PH2"), ("EF2", "PH3")]


def test_sentence_combinations_use_first_fragments():
    # a discontinuous phenotype "in ... ." (tokens 1 and 5, one span id): only "in" is linked
    doc = make_doc("PA1 in CX1 causes EF1 .", extra=[(1, 2, "PHENOTYPE", "PH9"), (5, 6, "PHENOTYPE", "PH9")])
    links = sentence_combinations(doc)
    assert [link["PHENOTYPE"].text for link in links] == ["in"]
    assert len(first_fragments(doc.spans[SPAN_KEY])) == len(doc.spans[SPAN_KEY]) - 1


def test_duplicate_entities_give_one_statement():
    doc = make_doc("PA1 CX1 EF1 PH1")
    ents = list(doc.spans[SPAN_KEY]) * 2
    assert len(sentence_combinations(doc, ents)) == 1
    assert len(nearest_to_effect(doc, ents)) == 1


# tokens: PA1 0, EF1 1, PA2 2, CX1 3, x 4-6, CX2 7, EF2 8, PH1 9, . 10 | PA3 CX3 EF3 .
NEAREST = "PA1 EF1 PA2 CX1 x x x CX2 EF2 PH1 . PA3 CX3 EF3 ."


def test_nearest_to_effect():
    links = nearest_to_effect(make_doc(NEAREST))
    # EF1: PA1 and PA2 both 1 away -> the earlier PA1; CX1 (2) before CX2 (6); PH1 alone.
    # EF2: PA2 (6) before PA1 (8); CX2 (1) before CX1 (5).
    # EF3: no PHENOTYPE in its sentence (PH1 is in the first one) -> no statement
    assert texts(links) == [("PA1", "CX1", "EF1", "PH1"), ("PA2", "CX2", "EF2", "PH1")]


def test_nearest_to_effect_other_hub():
    links = nearest_to_effect(make_doc(NEAREST), hub="PHENOTYPE")
    # PH1 (token 9): EF2 at 8 (1) before EF1 (8); CX2 (2); PA2 (7) before PA1 (9)
    assert texts(links) == [("PA2", "CX2", "EF2", "PH1")]
    with pytest.raises(ValueError):
        nearest_to_effect(make_doc(NEAREST), hub="SPECIES")


def test_token_distance():
    doc = NLP.make_doc("a b c d e f")
    assert token_distance(doc[0:2], doc[1:3]) == 0  # share "b"
    assert token_distance(doc[0:2], doc[2:3]) == 1  # adjacent
    assert token_distance(doc[4:6], doc[0:2]) == 3 == token_distance(doc[0:2], doc[4:6])


def test_empty_docs():
    for doc in (NLP.make_doc(""), NLP.make_doc("nothing to link here .")):
        assert sentence_combinations(doc) == []
        assert nearest_to_effect(doc) == []


def test_link_with_sets_links():
    docs = [make_doc(TWO_SENTENCES), make_doc(NEAREST)]
    link_with("sentence", docs)
    assert texts(docs[0]._.links) == texts(sentence_combinations(docs[0]))
    assert docs[0]._.link_scores == [None] * 4
    link_with("nearest_effect", docs)
    assert texts(docs[1]._.links) == texts(nearest_to_effect(docs[1]))
    assert set(BASELINES) == {"sentence", "nearest_effect"}
    with pytest.raises(ValueError):
        link_with("random", docs)
