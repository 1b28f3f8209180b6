"""scripts/evaluate.py shows docs done, docs/s and an ETA on stderr while the pipeline runs."""
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from fgen.scoring.evaluation import evaluate_docs

from ..conftest import run_script

PIPELINE = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline_0_1_0"


def test_evaluate_docs_reports_each_doc_done(corpus: Path):
    nlp = spacy.load(PIPELINE)
    gold = list(DocBin().from_disk(corpus / "train.spacy").get_docs(nlp.vocab))
    for gold_entities in (False, True):
        done = []
        evaluate_docs(nlp, gold, definitions=corpus, batch_size=2, gold_entities=gold_entities, on_doc=done.append)
        assert done == list(range(1, len(gold) + 1))


def test_evaluate_script_shows_progress_on_stderr(corpus: Path):
    result = run_script("evaluate", PIPELINE, corpus / "train.spacy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evaluated 3 docs (" in result.stderr and "docs/s" in result.stderr
    assert "evaluated" not in result.stdout
