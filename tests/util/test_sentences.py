"""fgen.util.sentences: sentence boundaries whether or not a sentence splitter ran."""
import spacy

from fgen.util.sentences import sentence_ids, sentence_starts

TEXT = "Knockdown of ATG12 inhibits tumorigenesis in UM cells. Overexpression of ZNNT1 promotes autophagy."


def test_sentence_ids_with_and_without_boundaries():
    nlp = spacy.blank("en")
    doc = nlp.make_doc(TEXT)
    ids = sentence_ids(doc)
    assert ids[0] == 0 and ids[-1] == 1 and sorted(set(ids)) == [0, 1]
    parsed = nlp.make_doc(TEXT)
    for tok in parsed:
        tok.is_sent_start = tok.i == 0  # a parser that found one sentence wins
    assert set(sentence_ids(parsed)) == {0}
    assert sentence_ids(nlp.make_doc("")) == []


def test_sentence_starts():
    nlp = spacy.blank("en")
    doc = nlp.make_doc(TEXT)
    second = [t.i for t in doc if t.text == "Overexpression"][0]
    assert sentence_starts(doc) == [0, second]
    assert sentence_starts(nlp.make_doc("")) == []
