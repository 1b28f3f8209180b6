"""Wrong words of the category head by kind (fgen.scoring.word_errors): hand-counted examples."""
import spacy
from spacy.training import Example

from fgen.scoring.word_errors import ERROR_KINDS, word_error_header, word_error_rows, word_errors
from fgen.scoring.word_scores import word_counts

from .labelled_docs import doc_with


def test_every_kind_counted_once_per_word():
    nlp = spacy.blank("en")
    # gold: PA "Knockdown of ATG12", CONTEXT "UM cells", EFFECT "inhibits", PHENOTYPE "tumorigenesis", "migration"
    gold = doc_with(nlp, [(0, 3, "PA"), (4, 6, "CONTEXT"), (6, 7, "EFFECT"), (7, 8, "PHENOTYPE"), (9, 10, "PHENOTYPE")])
    # pred: PA stops short (edge_missing "ATG12"), CONTEXT reaches left ("in": edge_extra),
    # EFFECT called PHENOTYPE (label), PHENOTYPE "tumorigenesis" right (tp), "migration" missed,
    # "them" spurious EFFECT
    pred = doc_with(nlp, [(0, 2, "PA"), (3, 6, "CONTEXT"), (6, 7, "PHENOTYPE"), (7, 8, "PHENOTYPE"), (11, 12, "EFFECT")])
    errors = word_errors([Example(pred, gold)])
    assert errors["PA"] == {"tp": 2, "edge_missing": 1}
    assert errors["CONTEXT"] == {"tp": 2, "edge_extra": 1}
    assert errors["EFFECT"] == {"label": 1, "spurious": 1}
    assert errors["PHENOTYPE"] == {"tp": 1, "missed": 1}


def test_kinds_add_up_to_the_word_scores():
    """tp, fp and fn of the category head are exactly the kinds summed (label counts on both)."""
    nlp = spacy.blank("en")
    gold = doc_with(nlp, [(0, 3, "PA"), (4, 6, "CONTEXT"), (7, 8, "PHENOTYPE"), (9, 10, "PHENOTYPE")])
    pred = doc_with(nlp, [(1, 4, "PA"), (5, 7, "EFFECT"), (7, 8, "EFFECT"), (11, 12, "CONTEXT")])
    examples = [Example(pred, gold), Example(gold.copy(), gold)]
    prf = word_counts(examples)["category"]
    total = {kind: sum(c.get(kind, 0) for c in word_errors(examples).values()) for kind in ("tp", *ERROR_KINDS)}
    assert total["tp"] == prf.tp
    assert total["label"] + total["edge_extra"] + total["spurious"] == prf.fp
    assert total["label"] + total["edge_missing"] + total["missed"] == prf.fn


def test_rows_give_the_f_without_each_kind():
    errors = {"A": {"tp": 6, "missed": 2, "spurious": 2}, "B": {"tp": 2, "label": 2}}
    rows = {row[0]: row for row in word_error_rows(errors)}
    assert word_error_header(errors)[2:4] == ["A", "B"]
    # tp 8, fp 2 + 2, fn 2 + 2: F = 16 / 24
    assert rows["(none removed)"][-1] == "66.7"
    assert rows["missed"][1:] == ["2", "2", "0", "76.9"]  # found: tp 10, fp 4, fn 2 -> 20 / 26
    assert rows["spurious"][-1] == "72.7"  # left out: tp 8, fp 2, fn 4 -> 16 / 22
    assert rows["label"][-1] == "83.3"  # tp 10, fp 2, fn 2: 20 / 24
    assert rows["edge_extra"][1:] == ["0", "0", "0", "66.7"]


def test_empty_docs():
    nlp = spacy.blank("en")
    empty = nlp("")
    assert word_errors([Example(empty, empty.copy())]) == {}
    assert word_error_rows({})[0][-1] == "0.0"
