"""Scheme definitions: labels from the definition files, found through the registry."""
import subprocess
import sys

from fgen.corpus.schemes import labels_from_definitions


def test_labels_from_definitions_is_registered_for_a_fresh_process(tiny_corpus):
    """In a process that imported nothing of fgen, the registry finds it through the entry point."""
    code = (
        "import sys, spacy; "
        "print(spacy.registry.misc.get('fgen.labels_from_definitions.v1')(sys.argv[1], 'v2'))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tiny_corpus)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(labels_from_definitions(tiny_corpus, "v2"))
    assert labels_from_definitions(tiny_corpus, "v2") == ["PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"]
