"""Link scores (fgen.pipeline.links.link_scorer): hand-counted examples."""
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from fgen.doc_layout import SPAN_KEY, set_links
from fgen.pipeline.links.link_scorer import link_counts, score_links, word_statements

NLP = spacy.blank("en")
FAMILIES = ("links", "link_pairs", "links_partial", "link_only")
LABELS = {"pa": "PERTURBING_ACTION", "cx": "CONTEXT", "ef": "EFFECT", "ph": "PHENOTYPE"}


def make_doc(
    text: str,
    entities: Sequence[Tuple[str, str]],
    links: Sequence[Sequence[str]] = (),
    words: Optional[List[str]] = None,
    provenance: Optional[dict] = None,
) -> Doc:
    """entities: (piece, label), each piece found once in `text`; links: statements as lists of
    pieces (the member's role is its entity's label). `words` gives another tokenisation."""
    if words is None:
        doc = NLP.make_doc(text)
    else:
        doc = Doc(NLP.vocab, words=words, spaces=_spaces(text, words))
        assert doc.text == text
    spans = {}
    for piece, label in entities:
        start = text.index(piece)
        span = doc.char_span(start, start + len(piece), label=label)
        assert span is not None, piece
        spans[piece] = span
    doc.spans[SPAN_KEY] = list(spans.values())
    set_links(doc, [{spans[p].label_: spans[p] for p in link} for link in links])
    doc._.provenance = provenance
    return doc


def _spaces(text: str, words: List[str]) -> List[bool]:
    spaces, pos = [], 0
    for word in words:
        pos = text.index(word, pos) + len(word)
        spaces.append(text[pos : pos + 1] == " ")
        pos += int(spaces[-1])
    return spaces


def tokens_as_entities(text: str) -> List[Tuple[str, str]]:
    """Every token like `pa1`, `cx2`, ... is an entity labelled by its prefix."""
    return [(w, LABELS[w[:2]]) for w in text.split() if w[:2] in LABELS]


def prf(scores: Dict[str, float], name: str) -> Tuple[float, float, float]:
    return scores[f"{name}_p"], scores[f"{name}_r"], scores[f"{name}_f"]


TEXT = "pa1 cx1 ef1 ph1 ef2 ph2 pa2 ph3 pa3 cx3"
ENTS = tokens_as_entities(TEXT)
G1, G2 = ("pa1", "cx1", "ef1", "ph1"), ("pa1", "cx1", "ef2", "ph2")
P3 = ("pa2", "cx1", "ef2", "ph2")


def example(pred_links, gold_links, text=TEXT, gold_provenance=None) -> Example:
    ents = tokens_as_entities(text)
    return Example(make_doc(text, ents, pred_links), make_doc(text, ents, gold_links, provenance=gold_provenance))


def test_exact_statements():
    # gold G1, G2; predicted G1 (twice: counts once) and P3 -> tp 1, fp 1 (P3), fn 1 (G2)
    eg = example([G1, G1, P3], [G1, G2])
    counts = link_counts([eg]).exact
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1)
    assert prf(score_links([eg]), "links") == pytest.approx((0.5, 0.5, 0.5))


def test_member_order_and_roles_do_not_matter_for_exact_match():
    reordered = {"ph": "ph1", "ef": "ef1", "cx": "cx1", "pa": "pa1"}
    eg = example([tuple(reordered.values())], [G1])
    assert prf(score_links([eg]), "links") == pytest.approx((1.0, 1.0, 1.0))


def test_pairs():
    # gold pairs: G1 gives 6; G2 6 more but pa1-cx1 is shared with G1 -> 11 unique.
    # predicted: G1's 6 pairs + P3's 6 = 12. P3's cx1-ef2, cx1-ph2, ef2-ph2 are gold (G2),
    # its 3 pa2-* pairs are not -> tp 9, fp 3, fn 2 (pa1-ef2, pa1-ph2)
    eg = example([G1, G1, P3], [G1, G2])
    counts = link_counts([eg]).pairs
    assert (counts.tp, counts.fp, counts.fn) == (9, 3, 2)
    assert prf(score_links([eg]), "link_pairs") == pytest.approx((0.75, 9 / 11, 2 * 0.75 * (9 / 11) / (0.75 + 9 / 11)))


def test_partial_needs_three_roles():
    # gold G1 and G3 (G1 with ph3). Predicted Q1 = (pa1, cx1, ef1, ph2) shares 3 roles with
    # both; Q2 = (pa2, cx3, ef1, ph1) only 2 with G1 -> P = 1/2, R = 2/2
    g3 = ("pa1", "cx1", "ef1", "ph3")
    q1, q2 = ("pa1", "cx1", "ef1", "ph2"), ("pa2", "cx3", "ef1", "ph1")
    scores = score_links([example([q1, q2], [G1, g3])])
    assert prf(scores, "links_partial") == pytest.approx((0.5, 1.0, 2 / 3))
    assert prf(scores, "links") == pytest.approx((0.0, 0.0, 0.0))


def test_partial_counts_exact_matches():
    scores = score_links([example([G1, G1, P3], [G1, G2])])
    # P3 shares cx1, ef2, ph2 with G2
    assert prf(scores, "links_partial") == pytest.approx((1.0, 1.0, 1.0))


LINK_ONLY_TEXT = "knockdown of A inhibits growth inside\ncells ; B promotes death"
LINK_ONLY_ENTS = [
    ("knockdown of A", "PERTURBING_ACTION"),
    ("inhibits", "EFFECT"),
    ("growth", "PHENOTYPE"),
    ("inside", "PHENOTYPE"),
    ("cells", "CONTEXT"),
    ("B", "PERTURBING_ACTION"),
    ("promotes", "EFFECT"),
    ("death", "PHENOTYPE"),
]


def test_link_only_by_hand():
    # words: knockdown0 of1 A2 inhibits3 growth4 inside5 cells6 ;7 B8 promotes9 death10
    # gold G1 = {0,1,2,3,4,6}, G2 = {8,9,10,6}: evaluated words {0,1,2,3,4,6,8,9,10}, 36 pairs,
    #   gold-positive: 15 (within G1) + 6 (within G2) = 21
    # predicted P1 = {0,1,2,6,9,4} (G1 with "promotes"), P2 = {8,6,9,5} ("inside" is not evaluated)
    #   predicted-positive: 15 within P1 + 6-8, 8-9 from P2 = 17
    #   tp: 10 within {0,1,2,4,6} + 6-9 + 6-8 + 8-9 = 13; fp: 9 with 0, 1, 2, 4 = 4; fn: 21 - 13 = 8
    gold = [("knockdown of A", "cells", "inhibits", "growth"), ("B", "cells", "promotes", "death")]
    pred = [("knockdown of A", "cells", "promotes", "growth"), ("B", "cells", "promotes", "inside")]
    t, e = LINK_ONLY_TEXT, LINK_ONLY_ENTS
    eg = Example(make_doc(t, e, pred), make_doc(t, e, gold))
    counts = link_counts([eg]).link_only
    assert (counts.tp, counts.fp, counts.fn) == (13, 4, 8)
    assert prf(score_links([eg]), "link_only") == pytest.approx((13 / 17, 13 / 21, 26 / 38))


def test_word_statements_overlap_by_characters():
    text = "PP242-induced autophagy"
    doc = make_doc(text, [("induced", "EFFECT"), ("autophagy", "PHENOTYPE")], [("induced", "autophagy")])
    # "induced" is inside the word "PP242-induced": the whole word belongs to the statement
    assert word_statements(text, doc._.links) == [{0}, {0}]


def test_different_tokenisation_matches_by_characters():
    text = "pa1/x cx1 ef1 ph1 ."
    ents = [("pa1/x", "PERTURBING_ACTION"), ("cx1", "CONTEXT"), ("ef1", "EFFECT"), ("ph1", "PHENOTYPE")]
    link = [("pa1/x", "cx1", "ef1", "ph1")]
    gold = make_doc(text, ents, link, words=["pa1/x", "cx1", "ef1", "ph1", "."])
    pred = make_doc(text, ents, link, words=["pa1", "/", "x", "cx1", "ef", "1", "ph1", "."])
    assert len(pred) != len(gold) and pred._.links[0]["EFFECT"].start != gold._.links[0]["EFFECT"].start
    scores = score_links([Example(pred, gold)])
    for family in FAMILIES:
        assert prf(scores, family) == pytest.approx((1.0, 1.0, 1.0)), family


def test_different_texts_are_an_error():
    pred = make_doc("pa1 ef1", tokens_as_entities("pa1 ef1"))
    gold = make_doc("pa1  ef1", tokens_as_entities("pa1  ef1"))
    with pytest.raises(ValueError):
        score_links([Example(pred, gold)])


def test_only_examples_with_link_annotation_count():
    counted = example([G1, P3], [G1, G2])
    alone = score_links([counted])
    ignored = example([P3], [], gold_provenance={"pmid": "1", "links_annotated": False})
    assert score_links([counted, ignored]) == alone
    # annotated without any gold statement: the prediction is a false positive
    annotated = example([P3], [], gold_provenance={"pmid": "2", "links_annotated": True})
    counts = link_counts([counted, annotated]).exact
    assert (counts.tp, counts.fp, counts.fn) == (1, 2, 1)
    # provenance without the key: counts
    assert link_counts([example([P3], [], gold_provenance={"pmid": "3"})]).exact.fp == 1


@pytest.mark.parametrize(
    "text,pred,gold",
    [("", [], []), (TEXT, [], []), (TEXT, [G1], [])],
    ids=["empty-doc", "no-links", "no-gold-links"],
)
def test_nothing_to_score_gives_zeros(text, pred, gold):
    scores = score_links([example(pred, gold, text=text)])
    assert set(scores) == {f"{f}_{m}" for f in FAMILIES for m in "prf"}
    assert all(isinstance(v, float) and v == 0.0 for v in scores.values())
    assert all(v == 0.0 for v in score_links([]).values())


def test_registered_scorer():
    import fgen.pipeline.links.link_scorer

    assert spacy.registry.scorers.get("fgen.links_scorer.v1")() is fgen.pipeline.links.link_scorer.score_links
