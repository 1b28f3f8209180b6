"""A pipeline saved by an earlier fgen (0.1.0, before the package was split into subpackages)
still loads through the registered names and predicts exactly what it predicted then.

The fixture was trained on the tests' synthetic abstracts (`tests/conftest.py`), nothing from
the corpus; `pipeline_0_1_0_predictions.json` holds what fgen 0.1.0 predicted with it.
"""
import json
from pathlib import Path

import pytest
import spacy

FIXTURES = Path(__file__).parent / "fixtures"


def test_pipeline_from_before_the_layout_change_predicts_the_same():
    expected = json.loads((FIXTURES / "pipeline_0_1_0_predictions.json").read_text())
    nlp = spacy.load(FIXTURES / "pipeline_0_1_0")
    assert nlp.pipe_names == ["tok2vec", "fgen_ner", "fgen_values", "fgen_links"]
    doc = nlp(expected["text"])
    ents = [[e.start_char, e.end_char, e.label_, e.kb_id_, e._.confidence, e._.value_confidence] for e in doc.spans["fgen"]]
    assert [e[:4] for e in ents] == [e[:4] for e in expected["ents"]]
    assert [e[4:] for e in ents] == [pytest.approx(e[4:], abs=1e-4) for e in expected["ents"]]
    pairs = [[a.start_char, b.start_char, p] for a, b, p in doc._.link_pairs]
    assert [p[:2] for p in pairs] == [p[:2] for p in expected["link_pairs"]]
    assert [p[2] for p in pairs] == pytest.approx([p[2] for p in expected["link_pairs"]], abs=1e-4)
    assert [sorted([k, v.start_char] for k, v in link.items()) for link in doc._.links] == expected["links"]
