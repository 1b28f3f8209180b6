"""Training runs shared by the tests of tests/runs, made once per test session.

test_run_history and test_report both need configs/ner_cnn.cfg trained 10 steps (evaluated every
5) on the three-doc corpus of test_train_smoke, recorded by fgen.run_logger.v1: it is trained
here once, in a `spacy train` process of its own, into a history that holds it alone.
"""
from pathlib import Path
from typing import Dict

import pytest

from fgen.runs.run_logger import HISTORY_ENV

from ..conftest import REPO, run_script
from ..test_train_smoke import run, write_smoke_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """test_train_smoke's corpus (definition files, three MAE files, train.spacy from
    scripts/convert.py), once per session instead of once per module."""
    root = tmp_path_factory.mktemp("runs_smoke") / "corpus"
    raw = write_smoke_corpus(root)
    result = run_script("convert", raw, root / "train.spacy", "--scheme", "v2")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="session")
def logged_ner_run(corpus, tmp_path_factory) -> Dict[str, object]:
    """`spacy train configs/ner_cnn.cfg` (10 steps, evaluated every 5) into <root>/ner_run, with
    FGEN_RUN_HISTORY at <root>/runs.jsonl: the run folder, the history (this run alone), the
    process's stdout and the corpus. Read-only for the tests."""
    root = tmp_path_factory.mktemp("history")
    out, history = root / "ner_run", root / "runs.jsonl"
    result = run(
        "-m", "spacy", "train", REPO / "configs" / "ner_cnn.cfg", "--output", out,
        "--paths.train", corpus / "train.spacy", "--paths.dev", corpus / "train.spacy",
        "--training.max_steps", "10", "--training.eval_frequency", "5",
        env={HISTORY_ENV: str(history)},
    )
    assert (out / "model-best").is_dir() and (out / "model-last").is_dir()
    return {"out": out, "history": history, "stdout": result.stdout, "corpus": corpus}
