"""Entity error classes per category (fgen.scoring.entity_errors)."""
import spacy
from spacy.training import Example

from fgen.scoring.entity_errors import classify, entity_errors, error_rows

from .labelled_docs import doc_with


def test_every_error_class():
    nlp = spacy.blank("en")
    gold = doc_with(nlp, [(0, 3, "PA"), (4, 6, "CONTEXT"), (6, 7, "EFFECT"), (7, 8, "PHENOTYPE"), (9, 10, "PHENOTYPE")])
    pred = doc_with(nlp, [(0, 2, "PA"), (5, 6, "CONTEXT"), (6, 7, "PHENOTYPE"), (7, 8, "PHENOTYPE"), (10, 11, "EFFECT")])
    errors = entity_errors([Example(pred, gold)])
    assert errors["gold"]["PA"] == {"boundary": 1}
    assert errors["gold"]["CONTEXT"] == {"boundary": 1}
    assert errors["gold"]["EFFECT"] == {"label": 1}
    assert errors["gold"]["PHENOTYPE"] == {"exact": 1, "missed": 1}
    assert errors["pred"]["EFFECT"] == {"spurious": 1}
    assert errors["boundary"]["PA"] == {"right, narrower": 1}
    assert errors["boundary"]["CONTEXT"] == {"left, narrower": 1}
    rows = {row[0]: row for row in error_rows(errors)}
    # PHENOTYPE: 2 gold, 2 predicted, 1 exact -> strict F 50; nothing to gain from the edges.
    assert rows["PHENOTYPE"][-2:] == ["50.0", "50.0"]
    # PA: 1 gold, 1 predicted, a boundary error -> 0 strict, 100 with right edges.
    assert rows["PA"][-2:] == ["0.0", "100.0"]


def test_label_and_boundary_and_empty():
    assert classify((0, 10, "A"), [(5, 12, "B")]) == "label+boundary"
    assert classify((0, 10, "A"), []) == ""
    nlp = spacy.blank("en")
    empty = nlp("")
    assert entity_errors([Example(empty, empty.copy())]) == {"gold": {}, "pred": {}, "boundary": {}}
