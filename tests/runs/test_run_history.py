"""fgen.run_logger.v1: spaCy's console table unchanged, every evaluation in <output>/log.jsonl,
one record per run in the run history, and scripts/runs.py listing it.

One tiny `spacy train` of configs/ner_cnn.cfg (10 steps, evaluated every 5) on the three-doc
corpus of test_train_smoke (conftest.logged_ner_run, shared with test_report); the logger's
mechanics without training are checked on a blank pipeline with made-up evaluation steps.
"""
import json
from pathlib import Path

import pytest
import spacy

from fgen.runs.run_logger import DEFAULT_HISTORY, HISTORY_ENV, flatten_scores, make_run_logger, read_history, read_jsonl

from ..conftest import REPO, SMOKE_RUNS, run_script
from ..test_train_smoke import run

pytestmark = pytest.mark.xdist_group(SMOKE_RUNS)  # shares the session's runs (conftest)


def test_configs_use_the_run_logger():
    for name in ("ner_cnn.cfg", "ner.cfg", "pipeline_cnn.cfg", "pipeline.cfg"):
        logger = spacy.util.load_config(REPO / "configs" / name, interpolate=False)["training"]["logger"]
        assert logger["@loggers"] == "fgen.run_logger.v1"
        assert logger["run_dir"] is None and logger["history"] == DEFAULT_HISTORY


def test_console_table_is_spacys(logged_ner_run):
    out = logged_ner_run["stdout"]
    assert "LOSS FGEN_NER" in out and "ENTS_F" in out and "SCORE" in out


def test_log_has_every_evaluation(logged_ner_run):
    steps = read_jsonl(logged_ner_run["out"] / "log.jsonl")
    assert [s["step"] for s in steps] == [0, 5, 10]
    for s in steps:
        assert set(s["losses"]) == {"tok2vec", "fgen_ner", "fgen_values"}
        assert 0.0 <= s["score"] <= 1.0
        assert {"ents_f", "ents_p", "ents_r", "values_f", "speed"} <= set(s["scores"])
        for prf in s["scores"]["ents_per_type"].values():
            assert set(prf) == {"p", "r", "f"}
        for prf in s["scores"]["values_per_type"].values():
            # plus the value accuracy per category, left out (like every None) when no entity matched
            assert set(prf) in ({"p", "r", "f", "acc"}, {"p", "r", "f"})
        assert s["words"] > 0 and s["seconds"] >= 0 and s["time"]


def test_history_records_the_run(logged_ner_run):
    out, corpus_dir = logged_ner_run["out"], logged_ner_run["corpus"]
    (record,) = read_history(logged_ner_run["history"])
    steps = read_jsonl(out / "log.jsonl")
    assert record["name"] == "ner_run" and record["status"] == "completed"
    assert record["run_dir"] == str(out) and record["log"] == str(out / "log.jsonl")
    assert Path(record["config"]).is_file()
    assert record["pipeline"] == ["tok2vec", "fgen_ner", "fgen_values"] and record["encoder"] == "cnn"
    assert record["paths"]["train"] == str(corpus_dir / "train.spacy")
    assert record["steps"] == 11 and record["evaluations"] == 3 and record["seconds"] > 0
    assert record["started"] <= record["finished"]
    assert record["final"]["step"] == 10 and record["final"]["scores"] == steps[-1]["scores"]
    assert record["best"]["score"] == max(s["score"] for s in steps)
    assert set(record["best"]["scores"]["ents_per_type"]) <= {"PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"}


def test_runs_list_and_show(logged_ner_run):
    history = logged_ner_run["history"]
    listed = run(REPO / "scripts" / "runs.py", "list", "--history", history).stdout  # a real process, exit code 0
    assert "ner_run" in listed and "cnn" in listed and "ents_f" in listed and "links_f" not in listed
    shown = run_script("runs", "show", "ner_run", "--history", history)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    shown = json.loads(shown.stdout)
    assert shown["run_dir"] == str(logged_ner_run["out"])


# ---------------------------------------------------------------- the logger without training


def _info(step: int, score: float, output_path=None) -> dict:
    info = {"epoch": 0, "step": step, "score": score, "seconds": 2, "words": 100, "losses": {"fgen_ner": 1.5},
            "other_scores": {"ents_f": score, "values_acc": None, "note": "text", "nan": float("nan"),
                             "ents_per_type": {"EFFECT": {"p": 0.5, "r": None, "f": 0.4}}}}
    if output_path is not None:
        info["output_path"] = str(output_path)
    return info


def _blank() -> spacy.Language:
    return spacy.blank("en")


def test_flatten_scores_keeps_numbers_and_per_type_dicts():
    flat = flatten_scores(_info(0, 0.3)["other_scores"])
    assert flat == {"ents_f": 0.3, "ents_per_type": {"EFFECT": {"p": 0.5, "f": 0.4}}}


def test_run_dir_comes_from_spacys_output_path(tmp_path, monkeypatch):
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    history = tmp_path / "sub" / "runs.jsonl"
    log_step, finalize = make_run_logger(history=str(history), console=False)(_blank())
    for step, score in ((0, 0.2), (1, None), (2, 0.6), (3, 0.5)):
        log_step(None if score is None else _info(step, score, tmp_path / "out" / "model-last"))
    finalize()
    assert [s["step"] for s in read_jsonl(tmp_path / "out" / "log.jsonl")] == [0, 2, 3]
    (record,) = read_history(history)
    assert record["name"] == "out" and record["steps"] == 4 and record["encoder"] == "cnn"
    assert record["best"]["step"] == 2 and record["final"]["step"] == 3


def test_explicit_run_dir_name_and_no_output(tmp_path, monkeypatch):
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    history = tmp_path / "runs.jsonl"
    # Without --output (no output_path) and no run_dir: no log, the history record only.
    log_step, finalize = make_run_logger(history=str(history), console=False)(_blank())
    log_step(_info(0, 0.1))
    finalize()
    log_step, finalize = make_run_logger(history=str(history), run_dir=str(tmp_path / "mine"), name="named", console=False)(_blank())
    log_step(_info(0, 0.1, tmp_path / "elsewhere" / "model-last"))
    finalize()
    first, second = read_history(history)
    assert first["run_dir"] is None and first["log"] is None and first["name"].startswith("run-")
    assert second["name"] == "named" and (tmp_path / "mine" / "log.jsonl").exists()
    assert not (tmp_path / "elsewhere").exists()


def test_failed_run_is_recorded_as_failed(tmp_path, monkeypatch):
    monkeypatch.setenv(HISTORY_ENV, str(tmp_path / "env_runs.jsonl"))  # the variable wins over the argument
    log_step, finalize = make_run_logger(history=str(tmp_path / "ignored.jsonl"), console=False)(_blank())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        finalize()  # spaCy calls finalize in a `finally` while the error propagates
    assert not (tmp_path / "ignored.jsonl").exists()
    (record,) = read_history(tmp_path / "env_runs.jsonl")
    assert record["status"] == "failed: RuntimeError" and record["best"] is None
