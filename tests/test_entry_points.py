"""A fresh Python process that never imports fgen finds its components through entry points:
spaCy loads `fgen_ner`, `fgen_values` and `fgen_links` by name (one process for all three: each
start costs seconds)."""
import json
import subprocess
import sys

CODE = """
import json, spacy
from spacy.tokens import Span
nlp = spacy.blank("en")
found = {name: type(nlp.add_pipe(name)).__module__ for name in ("fgen_ner", "fgen_values", "fgen_links")}
print(json.dumps({
    "modules": found,
    "pipe_names": nlp.pipe_names,
    "ents_f_weight": nlp.get_pipe_meta("fgen_ner").default_score_weights["ents_f"],
    "value_confidence": Span.has_extension("value_confidence"),
    "values_scorer": nlp.get_pipe("fgen_values").scorer.__name__,
}))
"""


def test_factories_found_through_entry_points():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] == {
        "fgen_ner": "fgen.pipeline.ner.ner_component",
        "fgen_values": "fgen.pipeline.values.values_component",
        "fgen_links": "fgen.pipeline.links.link_component",
    }
    assert found["pipe_names"] == ["fgen_ner", "fgen_values", "fgen_links"]
    assert found["ents_f_weight"] == 1.0
    assert found["value_confidence"] is True and found["values_scorer"] == "score_values"
