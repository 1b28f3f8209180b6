import random

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from fgen.pipeline.ner.gold_tags import aligned_biluo_tags, same_tokens

LABELS = ["CONTEXT", "EFFECT", "PHENOTYPE"]
WORDS = ["knockdown", "of", "ATG12", "inhibits", "tumour", "growth", "in", "UM", "cells", "."]


def random_doc(vocab, rng: random.Random) -> Doc:
    """Words (with some whitespace tokens) and non-overlapping entities; some docs leave the
    tokens outside entities missing instead of O."""
    n = rng.randint(0, 14)
    words = [rng.choice(WORDS + ["  "]) for _ in range(n)]
    if words and words[0] == "  ":
        words[0] = "the"
    doc = Doc(vocab, words=words, spaces=[rng.random() < 0.8 for _ in words])
    ents, i = [], 0
    while i < n:
        width = rng.randint(1, 4)
        if rng.random() < 0.4 and i + width <= n:
            ents.append(Span(doc, i, i + width, label=rng.choice(LABELS)))
            i += width
        i += 1
    default = rng.choice(["outside", "missing"])
    doc.set_ents(ents, default=default)
    if rng.random() < 0.1:
        doc = Doc(vocab, words=words, spaces=[t.whitespace_ == " " for t in doc])  # no NER annotation
    return doc


@pytest.mark.parametrize("seed", range(4))
def test_same_result_as_spacy_alignment(seed):
    rng = random.Random(seed)
    nlp = spacy.blank("en")
    for _ in range(150):
        reference = random_doc(nlp.vocab, rng)
        predicted = Doc(nlp.vocab, words=[t.text for t in reference], spaces=[bool(t.whitespace_) for t in reference])
        example = Example(predicted, reference)
        assert same_tokens(predicted, reference)
        assert aligned_biluo_tags(example) == example.get_aligned_ner()


def test_other_tokenization_falls_back_to_spacy_alignment():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["knockdown", "of", "ATG12", "-", "AS"], spaces=[True, True, False, False, False])
    reference.set_ents([Span(reference, 2, 5, label="PERTURBING_ACTION")], default="outside")
    predicted = Doc(nlp.vocab, words=["knockdown", "of", "ATG12-AS"], spaces=[True, True, False])
    example = Example(predicted, reference)
    assert not same_tokens(predicted, reference)
    assert aligned_biluo_tags(example) == example.get_aligned_ner() == ["O", "O", "U-PERTURBING_ACTION"]


def test_empty_doc():
    nlp = spacy.blank("en")
    example = Example(nlp.make_doc(""), nlp.make_doc(""))
    assert aligned_biluo_tags(example) == example.get_aligned_ner() == []
