"""The learning curve (fgen.runs.learning_curve, scripts/learning_curve.py) with a fake trainer:
nested subsets, one point per (fold, fraction), the log fit and the outputs; the real trainer's
wrapper (fgen.runs.subset_training) with a stand-in command."""
import json
import math
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from fgen.runs.learning_curve import fit_trend, markdown_table, nested_subsets, run_curve, summarise, trends
from fgen.runs.subset_training import spacy_trainer

from ..conftest import run_script, script_module


NLP = spacy.blank("en")


def docs(prefix: str, n: int):
    return [NLP.make_doc(f"{prefix} abstract {i} .") for i in range(n)]


def texts_of(path: Path):
    return [d.text for d in DocBin().from_disk(path).get_docs(NLP.vocab)]


def fake_trainer(trained):
    """Records the texts of each subset; the "model" is a file listing them (the simulation's
    tests use it too)."""

    def train(train_path: Path, run_dir: Path) -> Path:
        texts = texts_of(train_path)
        trained.append(texts)
        model = run_dir / "model.json"
        model.write_text(json.dumps(texts))
        return model

    return train


def fake_scorer(model: Path, gold_docs):
    n = len(json.loads(model.read_text()))
    f = 0.1 + 0.05 * math.log(n)  # a known log curve, so the fit can be checked
    return {"ents_f": f, "values_f": f - 0.02, "links_f": f / 2, "words_category_f": f + 0.01, "n_gold": len(gold_docs)}


def test_subsets_are_nested_seeded_and_at_least_one_doc():
    subsets = nested_subsets(40, [0.1, 0.5, 1.0, 0.01], seed=3)
    assert [len(subsets[f]) for f in (0.01, 0.1, 0.5, 1.0)] == [1, 4, 20, 40]
    assert set(subsets[0.01]) <= set(subsets[0.1]) <= set(subsets[0.5]) <= set(subsets[1.0]) == set(range(40))
    assert subsets == nested_subsets(40, [0.1, 0.5, 1.0, 0.01], seed=3)
    assert nested_subsets(40, [0.5], seed=4)[0.5] != subsets[0.5]
    with pytest.raises(ValueError):
        nested_subsets(40, [0.0], seed=0)
    with pytest.raises(ValueError):
        nested_subsets(0, [0.5], seed=0)


def test_log_fit_recovers_a_log_curve_and_needs_two_sizes():
    sizes = [10, 30, 90, 200]
    trend = fit_trend(sizes, [60 + 4 * math.log(n) for n in sizes])
    assert (trend.a, trend.b) == (pytest.approx(60), pytest.approx(4))
    assert trend.predict(300) == pytest.approx(60 + 4 * math.log(300))
    assert fit_trend([10, 10], [1, 2]) is None


def test_curve_trains_each_fold_and_fraction_on_nested_subsets(tmp_path):
    folds = [(docs("a", 20), docs("ta", 5)), (docs("b", 10), docs("tb", 3))]
    trained = []
    points = run_curve(folds, [1.0, 0.25, 0.5], tmp_path, fake_trainer(trained), fake_scorer, seed=1, fold_ids=[3, 4])
    assert [(p.fold, p.fraction, p.n_train) for p in points] == [
        (3, 0.25, 5), (3, 0.5, 10), (3, 1.0, 20), (4, 0.25, 2), (4, 0.5, 5), (4, 1.0, 10)]
    assert set(trained[0]) < set(trained[1]) < set(trained[2]) and all(t.startswith("a ") for t in trained[2])
    assert set(trained[3]) < set(trained[4]) < set(trained[5]) and all(t.startswith("b ") for t in trained[5])
    assert (tmp_path / "fold4" / "25" / "train.spacy").is_file()
    assert points[2].scores["entities"] == pytest.approx(100 * (0.1 + 0.05 * math.log(20)))
    rows = summarise(points)
    assert [(r["n_train"], r["folds"]) for r in rows] == [(3.5, 2), (7.5, 2), (15, 2)]
    table = markdown_table(rows, trends(rows))
    assert "| 15 | 100% | 2 |" in table and "at 115 (+100)" in table and "at 315 (+300)" in table
    trend = trends(rows)["entities"]
    assert f"| {trend.predict(40):.1f} | {trend.predict(140):.1f} | {trend.predict(340):.1f} |" in markdown_table(rows, trends(rows), base=40)


def test_a_resumed_curve_trains_only_the_points_it_lacks(tmp_path):
    folds = [(docs("a", 20), docs("ta", 5))]
    full = run_curve(folds, [0.25, 0.5, 1.0], tmp_path / "full", fake_trainer([]), fake_scorer, seed=1)
    trained, seen = [], []
    resumed = run_curve(folds, [0.25, 0.5, 1.0], tmp_path / "resumed", fake_trainer(trained), fake_scorer, seed=1,
                        done=full[:2], on_point=seen.append)
    assert len(trained) == 1 and len(trained[0]) == 20  # only the 100% point
    assert [(p.fraction, p.scores) for p in resumed] == [(p.fraction, p.scores) for p in full] and seen == resumed


def test_script_writes_points_table_and_figure(tmp_path, monkeypatch):
    folds_dir = tmp_path / "folds"
    folds_dir.mkdir()
    for k in range(2):
        DocBin(docs=docs(f"f{k}", 12)).to_disk(folds_dir / f"train{k}.spacy")
        DocBin(docs=docs(f"t{k}", 4)).to_disk(folds_dir / f"fold{k}.spacy")
    module = script_module("learning_curve")
    trained = []
    monkeypatch.setattr(module, "spacy_trainer", lambda *args: fake_trainer(trained))
    monkeypatch.setattr(module, "pipeline_scorer", lambda *args: fake_scorer)
    out = tmp_path / "out"
    result = run_script("learning_curve", out, "--folds-dir", folds_dir, "--folds", "1", "--fractions", "0.25,0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    points = json.loads((out / "points.json").read_text())
    assert [(p["fold"], p["n_train"]) for p in points] == [(1, 3), (1, 6)]
    assert all(t.startswith("f1 ") for t in trained[1])
    table = (out / "table.md").read_text()
    assert "| 6 | 50% | 1 |" in table and "at 12 | at 112 (+100) |" in table  # predicted from the whole training part
    assert (out / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    (out / "table.md").unlink()
    again = run_script("learning_curve", out, "--folds-dir", folds_dir, "--folds", "1", "--from-points")
    assert again.returncode == 0 and len(trained) == 2 and (out / "table.md").read_text() == table
    missing = run_script("learning_curve", out, "--folds-dir", folds_dir, "--folds", "7")
    assert missing.returncode == 1 and "train7.spacy" in missing.stdout + missing.stderr


def test_spacy_trainer_passes_the_subset_and_a_small_dev_and_reports_failures(tmp_path):
    run_dir = tmp_path / "run0"
    run_dir.mkdir()
    DocBin(docs=docs("x", 15)).to_disk(run_dir / "train.spacy")
    make_model = [sys.executable, "-c", "import pathlib, sys; (pathlib.Path(sys.argv[1]) / 'model-last').mkdir()"]
    model = spacy_trainer(Path("unused.cfg"), command=make_model)(run_dir / "train.spacy", run_dir)
    assert model == run_dir / "run" / "model-last" and model.is_dir()
    assert len(texts_of(run_dir / "dev.spacy")) == 10
    fail = [sys.executable, "-c", "print('broken config'); raise SystemExit(3)"]
    with pytest.raises(RuntimeError, match="exit status 3"):
        spacy_trainer(Path("unused.cfg"), command=fail)(run_dir / "train.spacy", run_dir)
