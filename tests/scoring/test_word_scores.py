"""Word-level scores (fgen.scoring.word_scores): hand-counted examples."""
import pytest
from spacy.tokens import Doc
from spacy.training import Example

from fgen.doc_layout import SPAN_KEY
from fgen.scoring.word_scores import score_words, scheme_of_docs, scored_heads, split_words, word_counts, word_tags
from fgen.corpus.tokenizer import make_nlp

NLP = make_nlp()
TEXT = "knockdown of ATG12 inhibits tumour growth in UM\ncells."


def make_doc(text: str, spans, ents: bool = True, span_key: bool = True) -> Doc:
    """spans: (piece, label, kb_id) or (piece, label, kb_id, nth occurrence)."""
    doc = NLP.make_doc(text)
    made = []
    for entry in spans:
        piece, label, kb_id = entry[:3]
        nth = entry[3] if len(entry) > 3 else 0
        start = -1
        for _ in range(nth + 1):
            start = text.index(piece, start + 1)
        span = doc.char_span(start, start + len(piece), label=label, kb_id=kb_id)
        assert span is not None, piece
        made.append(span)
    if span_key:
        doc.spans[SPAN_KEY] = made
    if ents:
        doc.ents = made
    return doc


def example(text, pred, gold, **kwargs) -> Example:
    return Example(make_doc(text, pred, **kwargs), make_doc(text, gold, **kwargs))


GOLD = [
    ("knockdown of ATG12", "PERTURBING_ACTION", "rnai/knockdown"),
    ("inhibits", "EFFECT", "negative"),
    ("tumour growth", "PHENOTYPE", "tumourigenesis"),
    ("UM\ncells", "CONTEXT", "cells"),
]
PRED = [
    ("knockdown of ATG12", "PERTURBING_ACTION", "gene gain-of-function"),  # right span, wrong value
    ("inhibits", "EFFECT", "negative"),
    ("tumour", "PHENOTYPE", "tumourigenesis"),  # "growth" missed
    ("in UM\ncells", "CONTEXT", "cells"),  # "in" too much
]


def test_split_words_keeps_offsets():
    text = "a  b\nc.\n\n(d)"
    assert split_words(text) == [(0, 1), (3, 4), (5, 7), (9, 12)]
    assert [text[s:e] for s, e in split_words(text)] == ["a", "b", "c.", "(d)"]
    assert split_words("") == [] and split_words(" \n ") == []


def test_v2_scores_by_hand(v2_scheme):
    # words: knockdown of ATG12 inhibits tumour growth in UM cells.
    # category: 7 words right, "growth" missed (fn), "in" extra (fp)
    # perturbing_action: 3 words with the wrong value -> 3 fp + 3 fn
    # context: "in" fp, "UM" and "cells." tp; effect: 1 tp; phenotype: "tumour" tp, "growth" fn
    scores = score_words([example(TEXT, PRED, GOLD)], v2_scheme)
    expected = {
        "category": (7 / 8, 7 / 8, 7 / 8),
        "perturbing_action": (0.0, 0.0, 0.0),
        "context": (2 / 3, 1.0, 0.8),
        "effect": (1.0, 1.0, 1.0),
        "phenotype": (1.0, 0.5, 2 / 3),
    }
    assert set(scores) == {f"words_{h}_{m}" for h in expected for m in "prf"}
    for head, (p, r, f) in expected.items():
        assert scores[f"words_{head}_p"] == pytest.approx(p), head
        assert scores[f"words_{head}_r"] == pytest.approx(r), head
        assert scores[f"words_{head}_f"] == pytest.approx(f), head
    counts = word_counts([example(TEXT, PRED, GOLD)], v2_scheme)
    assert (counts["perturbing_action"].tp, counts["perturbing_action"].fp, counts["perturbing_action"].fn) == (0, 3, 3)
    assert (counts["context"].tp, counts["context"].fp, counts["context"].fn) == (2, 1, 0)


def test_scored_heads_category_first(v2_scheme):
    scores = score_words([example(TEXT, PRED, GOLD)], v2_scheme)
    assert scored_heads(scores) == ["category", "context", "effect", "perturbing_action", "phenotype"]
    # Other keys (entity scores, a nested subset) are not heads.
    assert scored_heads({"ents_f": 0.5, "words_errors": {}, "words_x_p": 1.0, **scores}) == scored_heads(scores)
    assert scored_heads({}) == []


def test_micro_average_over_docs(v2_scheme):
    perfect = example(TEXT, GOLD, GOLD)
    scores = score_words([example(TEXT, PRED, GOLD), perfect], v2_scheme)
    # category: 8 gold words per doc; tp 7 + 8, fp 1, fn 1
    assert scores["words_category_p"] == pytest.approx(15 / 16)
    assert scores["words_category_r"] == pytest.approx(15 / 16)
    # perturbing_action: tp 0 + 3, fp 3, fn 3 -> P = R = 0.5
    assert scores["words_perturbing_action_f"] == pytest.approx(0.5)


def test_wrong_category_is_fp_and_fn(v2_scheme):
    gold = [("inhibits", "EFFECT", "negative")]
    pred = [("inhibits", "PHENOTYPE", "negative")]
    counts = word_counts([example(TEXT, pred, gold)], v2_scheme)
    assert (counts["category"].tp, counts["category"].fp, counts["category"].fn) == (0, 1, 1)
    # the value heads follow the category that owns the field: effect is missed, phenotype is
    # predicted with the value "negative"
    assert (counts["effect"].tp, counts["effect"].fp, counts["effect"].fn) == (0, 0, 1)
    assert (counts["phenotype"].tp, counts["phenotype"].fp, counts["phenotype"].fn) == (0, 1, 0)


def test_first_tag_by_start_wins():
    # "PP242-induced" is one word overlapped by two predicted tags: PP242 starts first
    text = "PP242-induced autophagy"
    doc = make_doc(text, [("induced", "EFFECT", "positive"), ("PP242", "PERTURBING_ACTION", "drug")])
    tags = word_tags(text, list(doc.spans[SPAN_KEY]))
    assert [t.label_ if t else None for t in tags] == ["PERTURBING_ACTION", None]
    gold = [("induced", "EFFECT", "positive")]
    pred = [("PP242", "PERTURBING_ACTION", "drug"), ("induced", "EFFECT", "positive")]
    scores = score_words([example(text, pred, gold)])
    assert scores["words_category_p"] == 0.0 and scores["words_category_r"] == 0.0


def test_overlapping_tags_ties_go_to_the_longer(v1_scheme):
    # V1-style overlapping spans: only in doc.spans["fgen"], doc.ents unset
    text = "promotes autophagy in cells"
    spans = [
        ("promotes", "EFFECT", "migration|decreases"),
        ("promotes autophagy", "EFFECT", "autophagy|increases"),
        ("autophagy", "PERTURBING_ACTION", "knock down"),
    ]
    doc = make_doc(text, spans, ents=False)
    tags = word_tags(text, list(doc.spans[SPAN_KEY]))
    assert [t.kb_id_ if t else None for t in tags] == ["autophagy|increases", "autophagy|increases", None, None]
    eg = Example(doc, make_doc(text, spans[1:2], ents=False))
    scores = score_words([eg], v1_scheme)
    assert {k for k in scores if k.endswith("_f")} == {
        f"words_{h}_f" for h in ["category", "description", "experiment_type", "species", "phenotype", "activity"]
    }
    assert scores["words_category_f"] == 1.0
    assert scores["words_phenotype_f"] == 1.0 and scores["words_activity_f"] == 1.0
    assert scores["words_description_p"] == 0.0 and scores["words_description_r"] == 0.0


def test_heads_without_scheme():
    text = "knockdown in UM cells reduces autophagy"
    gold = [
        ("knockdown", "PERTURBING_ACTION", "rnai/knockdown"),
        ("UM cells", "CONTEXT", "transformed cell line|human"),
        ("reduces autophagy", "EFFECT", "autophagy|decreases"),
    ]
    pred = [
        ("knockdown", "PERTURBING_ACTION", "rnai/knockdown"),
        ("UM cells", "CONTEXT", "transformed cell line|mouse"),
        ("reduces", "EFFECT", ""),  # no value predicted: O in the value heads
    ]
    scores = score_words([example(text, pred, gold)])
    heads = {k[len("words_") : -len("_f")] for k in scores if k.endswith("_f")}
    assert heads == {"category", "perturbing_action", "context_1", "context_2", "effect_1", "effect_2"}
    assert scores["words_category_p"] == 1.0 and scores["words_category_r"] == pytest.approx(4 / 5)
    assert scores["words_perturbing_action_f"] == 1.0
    assert scores["words_context_1_f"] == 1.0
    assert scores["words_context_2_f"] == 0.0  # 2 fp + 2 fn
    assert scores["words_effect_1_p"] == 0.0 and scores["words_effect_1_r"] == 0.0  # nothing predicted
    # V2-style kb_ids give heads named like the V2 fields
    v2_heads = {k for k in score_words([example(TEXT, PRED, GOLD)]) if k.endswith("_f")}
    assert v2_heads == {f"words_{h}_f" for h in ["category", "context", "effect", "perturbing_action", "phenotype"]}


def test_ents_only_and_empty_docs(v2_scheme):
    eg = example(TEXT, PRED, GOLD, span_key=False)  # scored from doc.ents
    assert score_words([eg], v2_scheme)["words_category_f"] == pytest.approx(7 / 8)
    empty = score_words([example("Nothing here.", [], [])], v2_scheme)
    assert set(empty.values()) == {0.0}
    assert score_words([], v2_scheme)["words_effect_f"] == 0.0


def test_texts_must_match():
    with pytest.raises(ValueError):
        score_words([Example(NLP.make_doc("a b"), NLP.make_doc("a c"))])


def test_scheme_of_docs(tiny_corpus):
    docs = [make_doc(TEXT, GOLD)]
    assert scheme_of_docs(docs, tiny_corpus) is None  # no provenance
    docs[0]._.provenance = {"scheme": "v2"}
    scheme = scheme_of_docs(docs, tiny_corpus)
    assert scheme.name == "v2" and scheme.labels[0] == "PERTURBING_ACTION"
    assert scheme_of_docs(docs, search_from=[tiny_corpus / "raw_data"]).name == "v2"
    assert scheme_of_docs(docs, search_from=[tiny_corpus.parent]) is None
    other = make_doc(TEXT, GOLD)
    other._.provenance = {"scheme": "v1"}
    with pytest.raises(ValueError):
        scheme_of_docs(docs + [other], tiny_corpus)
