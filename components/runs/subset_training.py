"""Train the real pipeline on a subset of the corpus and score it: the `Trainer` and `Scorer`
that `scripts/learning_curve.py` and `scripts/simulate_active_learning.py` pass to their loops
(`fgen.runs.learning_curve`, `fgen.suggest.simulation`).

One `spacy train` process per subset, one seed, model-last: the scripts' test parts are never
used to choose a model. spaCy needs a dev set, so the first docs of the subset serve, evaluated
once at step 0 only (eval_frequency beyond any run's length).
"""
import subprocess
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from fgen.runs.seed_training import LOG_NAME, failure_message, train_command
from fgen.scoring.evaluation import evaluate_docs

DEV_DOCS = 10
NO_EVALUATION = 10**6
Trainer = Callable[[Path, Path], Path]  # (train DocBin, run folder) -> the trained pipeline
Scorer = Callable[[Path, Sequence[Doc]], Dict[str, float]]  # (pipeline, gold docs) -> scores


def spacy_trainer(config: Path, seed: int = 0, max_steps: int = 1340, max_epochs: int = 0,
                  definitions: Optional[Path] = None, features_cache: Optional[Path] = None,
                  gpu_id: int = -1, command: Optional[Sequence[str]] = None) -> Trainer:
    """A `Trainer` running `spacy train CONFIG` on the subset into RUN/run; returns its model-last.

    max_epochs (int): when > 0, every run trains that many epochs (steps follow the subset's
        size) instead of `max_steps` steps.
    command (Optional[Sequence[str]]): run this instead of `spacy train` (tests).
    RAISES (RuntimeError): the training failed; names its log, with its end.
    """

    def train(train_path: Path, run_dir: Path) -> Path:
        docs = list(DocBin().from_disk(train_path).get_docs(spacy.blank("en").vocab))
        dev_path = run_dir / "dev.spacy"
        DocBin(docs=docs[:DEV_DOCS], store_user_data=True).to_disk(dev_path)
        args = ["--paths.train", str(train_path), "--paths.dev", str(dev_path),
                "--training.max_steps", str(0 if max_epochs else max_steps), "--training.max_epochs", str(max_epochs),
                "--training.eval_frequency", str(NO_EVALUATION), "--gpu-id", str(gpu_id)]
        if definitions is not None:
            args += ["--paths.definitions", str(definitions)]
        if features_cache is not None:
            args += ["--paths.features_cache", str(features_cache)]
        output = run_dir / "run"
        output.mkdir(parents=True, exist_ok=True)
        cmd = [*command, str(output)] if command else train_command(config, output, seed, args)
        with (output / LOG_NAME).open("w", encoding="utf8") as log:
            status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
        if status != 0:
            raise RuntimeError(failure_message(seed, status, output / LOG_NAME))
        return trained_model(run_dir)

    return train


def trained_model(run_dir: Path) -> Path:
    """Where `spacy_trainer`'s `train(..., run_dir)` leaves the model (a resumed run looks there)."""
    return run_dir / "run" / "model-last"


def load_with_cache(model: Path, features_cache: Optional[Path] = None) -> Language:
    """Load a trained pipeline; with `features_cache`, its frozen encoder reads the features the
    training runs cached (the same encoder, so the same numbers) instead of recomputing them."""
    from fgen.pipeline.layers.encoder_features import enable_cache, pipeline_features_nodes

    nlp = spacy.load(model)
    if features_cache is not None:
        for node in pipeline_features_nodes(nlp):
            enable_cache(node, features_cache)
    return nlp


def pipeline_scorer(definitions: Optional[Path] = None, features_cache: Optional[Path] = None) -> Scorer:
    """A `Scorer` loading the trained pipeline and running `evaluate_docs` on the gold docs
    (encoder features from `features_cache` when given: see `load_with_cache`)."""

    def score(model: Path, gold_docs: Sequence[Doc]) -> Dict[str, float]:
        return evaluate_docs(load_with_cache(model, features_cache), gold_docs, definitions=definitions)

    return score
