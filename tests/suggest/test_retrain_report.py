"""scripts/retrain_report.py (fgen.suggest.comparison): the pipeline before and after a retrain
scored on the dev abstracts held out from both."""
import json
from pathlib import Path

from spacy.tokens import DocBin

from fgen.corpus.conversion import convert_paths
from fgen.corpus.tokenizer import make_nlp
from fgen.scoring.evaluation import evaluate_docs
from fgen.suggest.comparison import shared_dev

from ..conftest import run_script
from .test_suggest import build_pipeline, write_definitions


def test_snapshot_then_compare_on_the_shared_dev(tiny_corpus, v2_scheme, tmp_path):
    raw = tiny_corpus / "raw_data"
    docs = convert_paths([raw / "V2 Marked and Linked Entities", raw / "V2 Marked Entities No Linking",
                          raw / "V2 No Marked Entities"], v2_scheme, make_nlp()).docs
    by_pmid = {d._.provenance["pmid"]: d for d in docs}
    old_dev, new_dev = [by_pmid["111111"], by_pmid["333333"]], [by_pmid["222222"], by_pmid["111111"]]
    assert [d._.provenance["pmid"] for d in shared_dev([old_dev, new_dev])] == ["111111"]
    definitions = write_definitions(tmp_path / "defs")
    before, after = build_pipeline(definitions, steps=1), build_pipeline(definitions, steps=8)
    before.to_disk(tmp_path / "before_model")
    after.to_disk(tmp_path / "after_model")
    for name, dev in (("old_dev", old_dev), ("new_dev", new_dev)):
        DocBin(store_user_data=True, docs=dev).to_disk(tmp_path / f"{name}.spacy")
    kept = run_script("retrain_report", "snapshot", tmp_path / "before_model", tmp_path / "old_dev.spacy", tmp_path / "before")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    report = tmp_path / "report.md"
    result = run_script("retrain_report", "compare", tmp_path / "before", tmp_path / "after_model", tmp_path / "new_dev.spacy",
                        "--output", report, "--definitions", tiny_corpus)
    assert result.returncode == 0, result.stdout + result.stderr
    scores = json.loads(report.with_suffix(".json").read_text())
    assert scores["docs"] == 1
    expected = evaluate_docs(after, [by_pmid["111111"]], definitions=tiny_corpus)
    assert scores["after"]["ents_f"] == expected["ents_f"] and scores["before"]["ents_f"] <= 1
    assert "| ents_f |" in report.read_text() and "1 dev abstracts" in report.read_text()
