"""Simulated active learning (fgen.suggest.simulation, scripts/simulate_active_learning.py) with a
fake trainer and picker; the real picker on a tiny ensemble pipeline."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from fgen.suggest.ranking import rank
from fgen.suggest.simulation import curves, goal, markdown_table, simulate, uncertainty_selector

from ..conftest import run_script, script_module
from ..runs.test_learning_curve import fake_trainer
from .test_suggest import POOL, build_pipeline, write_definitions

NLP = spacy.blank("en")


def docs(prefix: str, n: int):
    return [NLP.make_doc(f"{prefix} {'long ' * i}abstract {i} .") for i in range(n)]


def fake_scorer(model: Path, gold_docs):
    texts = json.loads(model.read_text())
    # longer abstracts teach more: a strategy that picks them wins
    return {"ents_f": sum(t.count("long") for t in texts) / 100, "values_f": 0.0, "links_f": 0.0, "words_category_f": 0.0}


def fake_selector(picks):
    """`uncertainty` picks the longest pool abstracts, `random` the shortest (a fixed, known order)."""

    def select(model, pool, strategy, n, seed):
        picks.append((strategy, [d.text for d in pool]))
        order = sorted(range(len(pool)), key=lambda i: -len(pool[i].text) if strategy == "uncertainty" else len(pool[i].text))
        return order[:n]

    return select


def test_rounds_reveal_picked_abstracts_from_a_shared_initial_set(tmp_path):
    pool = docs("p", 12)
    trained, picks = [], []
    points = simulate(pool, docs("t", 2), ["random", "uncertainty"], tmp_path, fake_trainer(trained), fake_scorer,
                      fake_selector(picks), initial=3, round_size=2, rounds=3, repeats=2, seed=5)
    assert [(p.repeat, p.strategy, p.round, p.n_labelled) for p in points] == [
        (r, s, k, 3 + 2 * k) for r in range(2) for s in ("random", "uncertainty") for k in range(3)]
    # every strategy of a repeat starts from the same model (trained once); the repeats from different sets
    assert len(trained) == 10 and points[0].scores == points[3].scores and set(trained[0]) != set(trained[5])
    # each round adds what the picker chose, never an abstract already annotated
    longest = sorted((d.text for d in pool if d.text not in trained[0]), key=len)[-2:]
    assert set(trained[3]) == set(trained[0]) | set(longest)
    assert all(not set(texts) & set(trained[i]) for i, (_, texts) in zip([0, 1, 0, 3, 5, 6, 5, 8], picks))
    curve = curves(points)
    assert [r["repeats"] for r in curve["uncertainty"]] == [2, 2, 2]
    assert curve["uncertainty"][-1]["mean"] > curve["random"][-1]["mean"]
    assert "| 7 |" in markdown_table(curve)


def test_a_resumed_simulation_continues_where_it_stopped(tmp_path):
    pool, settings = docs("p", 12), dict(initial=3, round_size=2, rounds=3, repeats=1, seed=5)
    full = simulate(pool, docs("t", 2), ["random", "uncertainty"], tmp_path, fake_trainer([]), fake_scorer,
                    fake_selector([]), **settings)
    (tmp_path / "r0" / "uncertainty" / "round2" / "model.json").unlink()  # a round whose model is gone is trained again
    trained = []
    resumed = simulate(pool, docs("t", 2), ["random", "uncertainty"], tmp_path, fake_trainer(trained), fake_scorer,
                       fake_selector([]), done=full[:5], trained_model=lambda run_dir: run_dir / "model.json", **settings)
    assert len(trained) == 1 and len(trained[0]) == 7
    assert [(p.strategy, p.round, p.n_labelled, p.scores) for p in resumed] == [
        (p.strategy, p.round, p.n_labelled, p.scores) for p in full]


def test_rounds_stop_when_the_pool_runs_out(tmp_path):
    trained = []
    points = simulate(docs("p", 5), docs("t", 1), ["random"], tmp_path, fake_trainer(trained), fake_scorer,
                      fake_selector([]), initial=2, round_size=2, rounds=10, repeats=1)
    assert [p.n_labelled for p in points] == [2, 4, 5]
    with pytest.raises(ValueError):
        simulate(docs("p", 5), [], ["random"], tmp_path, fake_trainer([]), fake_scorer, fake_selector([]),
                 initial=6, round_size=1, rounds=1)


def test_goal_reached_share_and_gain_at_40_percent():
    def rows(*means):
        return [{"n_labelled": n, "mean": m, "sd": 0.0, "repeats": 3} for n, m in zip((20, 40, 60, 80, 100), means)]

    curve = {"random": rows(50, 55, 58, 60, 61), "uncertainty": rows(52, 58, 61, 62, 62), "flat": rows(50, 55.5, 58, 60, 60)}
    result = goal(curve, full_pool_f=61, pool_size=100)
    assert result["uncertainty"]["reached_at"] == 60 and result["uncertainty"]["met"]
    assert result["uncertainty"]["at_40"] == 40 and result["uncertainty"]["gain_at_40"] == pytest.approx(3)
    assert result["flat"]["reached_at"] is None and not result["flat"]["met"]
    assert result["random"]["reached_share"] == pytest.approx(1.0) and not result["random"]["met"]


def test_selector_ranks_the_pool_as_suggest_does(tmp_path):
    definitions = write_definitions(tmp_path / "definitions")
    nlp = build_pipeline(definitions, steps=4)
    nlp.to_disk(tmp_path / "model")
    pool = [NLP.make_doc(text) for text in POOL]
    select = uncertainty_selector(batch_size=2)
    picked = select(tmp_path / "model", pool, "uncertainty", 3, 0)
    from fgen.suggest.ranking import Scored
    from fgen.suggest.uncertainty import annotate_with_uncertainty

    measured = annotate_with_uncertainty(nlp, [nlp.make_doc(t) for t in POOL])
    expected = [int(s.id) for s, _ in rank([Scored(str(i), u, 0, 0, 0) for i, u in enumerate(measured)], "uncertainty")]
    assert picked == expected[:3]
    assert len(set(select(tmp_path / "model", pool, "disagreement", 5, 0))) == 5
    assert select(tmp_path / "model", pool, "random", 2, 1) == select(tmp_path / "model", pool, "random", 2, 1)


def test_script_writes_curves_and_the_goal(tmp_path, monkeypatch):
    DocBin(docs=docs("p", 8)).to_disk(tmp_path / "pool.spacy")
    DocBin(docs=docs("t", 2)).to_disk(tmp_path / "test.spacy")
    module = script_module("simulate_active_learning")
    monkeypatch.setattr(module, "spacy_trainer", lambda *args: fake_trainer([]))
    monkeypatch.setattr(module, "pipeline_scorer", lambda *args: fake_scorer)
    monkeypatch.setattr(module, "uncertainty_selector", lambda **_: fake_selector([]))
    out = tmp_path / "out"
    result = run_script("simulate_active_learning", out, "--pool", tmp_path / "pool.spacy", "--test", tmp_path / "test.spacy",
                        "--initial", 2, "--round-size", 2, "--rounds", 3, "--repeats", 3, "--full-pool")
    assert result.returncode == 0, result.stdout + result.stderr
    points = json.loads((out / "points.json").read_text())
    assert len(points) == 18 and {p["strategy"] for p in points} == {"random", "uncertainty"}
    table = (out / "table.md").read_text()
    assert "Reference entity F" in table and "uncertainty: reaches it at" in table
    assert (out / "simulation.png").read_bytes().startswith(b"\x89PNG")
