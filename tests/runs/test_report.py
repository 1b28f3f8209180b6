"""scripts/report.py: two tiny training runs compared in one report (markdown + PNGs, value
confusion with --data), a run folder without a log, and cross-validation results.json files of
both benchmark shapes (fabricated, shape-correct) as mean ± std tables.

scripts/report.py runs in this process (conftest.run_script), but for one failure checked on a
real process too, for the exit code the script's `__main__` block gives.
"""
import json
import shutil
import subprocess
import sys

import pytest

from fgen.runs.run_report import load_input

from ..conftest import REPO, SMOKE_RUNS, run_script

pytestmark = pytest.mark.xdist_group(SMOKE_RUNS)  # shares the session's runs (conftest)

REPORT = REPO / "scripts" / "report.py"


def report(*args):
    result = run_script("report", *args)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def two_runs(logged_ner_run, logged_pipeline_run, tmp_path_factory):
    """The whole pipeline and the NER-only config, 10 steps each (conftest: trained once per
    session, each into a history of its own), recorded here in one history: its path and the
    pipeline run's folder."""
    history = tmp_path_factory.mktemp("report_runs") / "runs.jsonl"
    history.write_text("".join(run["history"].read_text(encoding="utf8") for run in (logged_pipeline_run, logged_ner_run)),
                       encoding="utf8")
    return {"history": history, "pipeline_run": logged_pipeline_run["out"]}


def test_report_compares_two_runs(two_runs, corpus, tmp_path):
    out = tmp_path / "report"
    # one run by folder, one by its name in the history
    report(two_runs["pipeline_run"], "ner_run", "--history", two_runs["history"], "--output", out,
        "--title", "Two runs", "--data", corpus / "train.spacy")
    text = (out / "report.md").read_text(encoding="utf8")
    assert text.startswith("# Two runs")
    for name in ("pipeline_run", "ner_run"):
        assert f"| {name} | completed | cnn |" in text  # runs table
        assert f"| {name} | best | " in text and f"| {name} | final | 10 |" in text  # scores table
        assert f"| CONTEXT | {name} | " in text  # per-category table
        assert f"### {name} (" in text  # value confusion
    assert "links F" in text and "### Entities (`ents_per_type`)" in text and "### Values (`values_per_type`)" in text
    images = ["losses.png", "scores.png", "categories.png", "confusion_pipeline_run.png", "confusion_ner_run.png"]
    for image in images:
        assert (out / image).stat().st_size > 0 and f"]({image})" in text
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))  # written atomically


def test_run_folder_without_log(logged_ner_run, tmp_path):
    run_dir = tmp_path / "copied"
    shutil.copytree(logged_ner_run["out"] / "model-best", run_dir / "model-best")
    out = tmp_path / "report"
    report(run_dir, "--history", tmp_path / "none.jsonl", "--output", out)
    text = (out / "report.md").read_text(encoding="utf8")
    assert "| copied | - | cnn |" in text  # encoder from the model's config, scores from meta.json
    assert "| copied | best | - | - |" in text
    assert "no curves" in text and not (out / "losses.png").exists()


def _ner_results():
    results = []
    for system, offset in (("crf", 0.0), ("softmax", 0.1)):
        for fold, ents_f in enumerate((0.5, 0.6, 0.7)):
            scores = {"ents_p": ents_f, "ents_r": ents_f, "ents_f": ents_f + offset, "values_f": 0.4, "values_acc": 0.9,
                      "ents_per_type": {"EFFECT": {"p": 0.5, "r": 0.5, "f": 0.5}}, "words_category_f": 0.3, "speed": 1000.0}
            results.append({"system": system, "encoder": "cnn", "fold": fold, "epochs": 2, "seconds_per_epoch": 10.0 + fold,
                            "words_per_second": 2000.0, "scores": scores})
    return results


def _links_results():
    def scores(f):
        return {"links_f": f, "links_p": f, "links_r": f, "link_pairs_f": f, "links_partial_f": f, "link_only_f": f}

    return [{"fold": k, "docs": 3, "seconds_per_epoch": 5.0, "words_per_second": 900.0,
             "scores": {entities: {"fgen_links": scores(0.2 + 0.2 * k), "sentence": scores(0.1)} for entities in ("gold", "predicted")}}
            for k in range(2)]


def test_report_on_cv_results(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "results.json").write_text(json.dumps(_ner_results()))
    links = tmp_path / "links_results.json"
    links.write_text(json.dumps(_links_results()))
    out = tmp_path / "report"
    report(tmp_path / "bench", links, "--output", out, "--history", tmp_path / "none.jsonl")
    text = (out / "report.md").read_text(encoding="utf8")
    assert "## Cross-validation: bench (entities and values)" in text
    assert "| crf (cnn) | 3 | 60.0 ± 10.0 | 60.0 ± 10.0 | 60.0 ± 10.0 | 40.0 ± 0.0 | 90.0 ± 0.0 | 30.0 ± 0.0 | 11 ± 1 | 2000 ± 0 |" in text
    assert "| softmax (cnn) | 3 | 60.0 ± 10.0 | 60.0 ± 10.0 | 70.0 ± 10.0 |" in text
    assert "| crf (cnn) | 3 | 50.0 ± 0.0 |" in text  # F per category (ents F EFFECT)
    assert "| crf (cnn) | 50.0 | 60.0 | 70.0 | 60.0 ± 10.0 |" in text  # ents_f per fold
    assert "## Cross-validation: links_results (statements on the link-annotated folds)" in text
    assert "| fgen_links, gold entities | 2 | 30.0 ± 14.1 |" in text
    assert "| sentence, predicted entities | 2 | 10.0 ± 0.0 |" in text
    for image in ("cv_1.png", "cv_2.png"):
        assert (out / image).stat().st_size > 0
    assert "## Runs" not in text


def test_unknown_run_fails_on_one_line(tmp_path):
    # a real process, for the exit code of the script's __main__ block
    result = subprocess.run([sys.executable, REPORT, "no_such_run", "--output", tmp_path / "out", "--history", tmp_path / "none.jsonl"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1 and "no_such_run: not a run folder" in result.stdout
    assert not (tmp_path / "out" / "report.md").exists()
    (tmp_path / "other.json").write_text(json.dumps({"not": "results"}))
    with pytest.raises(ValueError, match="not a results.json"):
        load_input(str(tmp_path / "other.json"), [])
