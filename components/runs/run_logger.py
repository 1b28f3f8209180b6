"""fgen's training logger: spaCy's console table, plus a JSON-lines log of every evaluation in the
run folder and one record per run in a run history (`scripts/runs.py`, `scripts/report.py`).

    [training.logger]
    @loggers = "fgen.run_logger.v1"
    run_dir = null
    history = "training/runs.jsonl"
    name = null
    progress_bar = false
    console = true

Where the per-run log goes: spaCy gives a logger the pipeline and two streams, not the
`spacy train --output` folder, and sets no config variable for it. But every evaluation step's
`info` carries `output_path` (`<output>/model-last`, saved just before the step is logged) when
an output folder was given, so the run folder is its parent: `<output>/log.jsonl` is written
with no extra argument. `run_dir` overrides it (e.g. `--training.logger.run_dir DIR`); with
neither (training without `--output`), only the history record is written. Paths are relative
to the working directory of `spacy train`. The environment variable FGEN_RUN_HISTORY, when set,
replaces `history` (the test suite sets it, so test runs stay out of training/runs.jsonl).
"""
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, TextIO, Tuple, Union

import spacy
from spacy.language import Language
from wasabi import Printer

LOG_NAME = "log.jsonl"
DEFAULT_HISTORY = "training/runs.jsonl"
HISTORY_ENV = "FGEN_RUN_HISTORY"
LogStep = Callable[[Optional[Dict[str, Any]]], None]


def _number(value: Any) -> Optional[float]:
    """`value` as a finite float (numpy scalars included), else None; bools are not numbers."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def flatten_scores(scores: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The JSON-ready part of spaCy's `other_scores`: numbers, and per-type dicts (label → number
    or label → {metric: number}) with their numbers only. None and anything else are dropped.

    scores (Optional[Dict[str, Any]]): `info["other_scores"]` or a meta.json "performance".
    RETURNS (Dict[str, Any]): the kept scores.
    """
    out: Dict[str, Any] = {}
    for key, value in (scores or {}).items():
        if isinstance(value, dict):
            nested = {}
            for label, inner in value.items():
                if isinstance(inner, dict):
                    kept = {m: _number(v) for m, v in inner.items() if _number(v) is not None}
                    if kept:
                        nested[str(label)] = kept
                elif _number(inner) is not None:
                    nested[str(label)] = _number(inner)
            if nested:
                out[str(key)] = nested
        elif _number(value) is not None:
            out[str(key)] = _number(value)
    return out


def step_record(info: Dict[str, Any]) -> Dict[str, Any]:
    """One line of log.jsonl from spaCy's `info` of an evaluation step.

    words_per_second is the training throughput (words seen / seconds since the start);
    `scores["speed"]` is spaCy's evaluation speed.
    """
    seconds = _number(info.get("seconds")) or 0.0
    words = int(info.get("words") or 0)
    return {
        "epoch": info.get("epoch"),
        "step": info.get("step"),
        "seconds": seconds,
        "words": words,
        "words_per_second": words / seconds if seconds > 0 else None,
        "losses": {str(k): _number(v) for k, v in (info.get("losses") or {}).items()},
        "score": _number(info.get("score")),
        "scores": flatten_scores(info.get("other_scores")),
        "time": _now(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def encoder_name(config: Dict[str, Any]) -> str:
    """The transformer's model name in a pipeline config, else "cnn"."""
    try:
        return str(config["components"]["transformer"]["model"]["name"])
    except (KeyError, TypeError):
        return "cnn"


def _interpolated(nlp: Language) -> Dict[str, Any]:
    try:
        return nlp.config.interpolate()
    except Exception:  # a config that does not interpolate still has its raw values
        return nlp.config


class RunRecorder:
    """What one training run logs: evaluation steps to log.jsonl, a summary to the history."""

    def __init__(self, nlp: Language, history: Optional[str], run_dir: Optional[str], name: Optional[str], stdout: IO):
        config = _interpolated(nlp)
        self.history = Path(history) if history else None
        self.run_dir = Path(run_dir) if run_dir else None
        self.name = name
        self.stdout = stdout
        self.pipeline = list(nlp.pipe_names)
        self.encoder = encoder_name(config)
        self.paths = {str(k): (None if v is None else str(v)) for k, v in dict(config.get("paths", {})).items()}
        self.started = _now()
        self.start = time.perf_counter()
        self.updates = 0
        self.steps: List[Dict[str, Any]] = []
        self.log: Optional[TextIO] = None
        self.log_failed = False

    def warn(self, text: str) -> None:
        print(Printer(no_print=True).warn(text), file=self.stdout, flush=True)

    def step(self, info: Optional[Dict[str, Any]]) -> None:
        """Called by spaCy after every update; `info` is None except on evaluation steps."""
        self.updates += 1
        if info is None:
            return
        if self.run_dir is None and info.get("output_path"):
            self.run_dir = Path(info["output_path"]).parent
        record = step_record(info)
        self.steps.append(record)
        self._write_log(record)

    def _write_log(self, record: Dict[str, Any]) -> None:
        # A log that cannot be written must not stop training: warn once and go on.
        if self.run_dir is None or self.log_failed:
            return
        try:
            if self.log is None:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.log = (self.run_dir / LOG_NAME).open("w", encoding="utf8")  # a new run replaces the old log
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
        except OSError as err:
            self.log_failed = True
            self.warn(f"fgen.runs.run_logger: cannot write {self.run_dir / LOG_NAME} ({err}); training goes on")

    def summary(self, status: str) -> Dict[str, Any]:
        """The history record of the run so far. steps: updates made (the last step index + 1);
        epoch: the epoch of the last evaluation; final / best: {step, epoch, score, scores}."""
        last = self.steps[-1] if self.steps else None
        best = best_step(self.steps)
        config = self.run_dir / "model-last" / "config.cfg" if self.run_dir else None
        return {
            "name": self.name or (self.run_dir.name if self.run_dir else f"run-{self.started}"),
            "status": status,
            "started": self.started,
            "finished": _now(),
            "seconds": round(time.perf_counter() - self.start, 1),
            "steps": self.updates,
            "epoch": last["epoch"] if last else None,
            "evaluations": len(self.steps),
            "pipeline": self.pipeline,
            "encoder": self.encoder,
            "paths": self.paths,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "config": str(config) if config is not None and config.exists() else None,
            "log": str(self.run_dir / LOG_NAME) if self.run_dir and not self.log_failed and self.steps else None,
            "final": checkpoint_view(last),
            "best": checkpoint_view(best),
        }

    def finish(self, status: str) -> None:
        """Close the log and append the run's record to the history."""
        if self.log is not None:
            self.log.close()
        if self.history is None:
            return
        try:
            append_record(self.history, self.summary(status))
        except OSError as err:  # finalize runs before spaCy's last save: never fail here
            self.warn(f"fgen.runs.run_logger: cannot append to {self.history} ({err})")


def best_step(steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The logged evaluation model-best comes from: the highest score, the latest of equal ones
    (spaCy overwrites model-best on ties too); None when no evaluation has a score."""
    scored = [s for s in steps if s.get("score") is not None]
    return max(scored, key=lambda s: (s["score"], s.get("step") or 0)) if scored else None


def checkpoint_view(step: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """{step, epoch, score, scores} of a logged evaluation, as history records keep best/final."""
    return {k: step.get(k) for k in ("step", "epoch", "score", "scores")} if step else None


def _status() -> str:
    """How training ended, seen from the logger's finalize (spaCy calls it in a `finally`)."""
    error = sys.exc_info()[1]
    if error is None:
        return "completed"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"failed: {type(error).__name__}"


@spacy.registry.loggers("fgen.run_logger.v1")
def make_run_logger(
    history: Optional[str] = DEFAULT_HISTORY,
    run_dir: Optional[str] = None,
    name: Optional[str] = None,
    progress_bar: bool = False,
    console: bool = True,
) -> Callable[..., Tuple[LogStep, Callable[[], None]]]:
    """spaCy's console logger plus a per-run log and a run history.

    history (Optional[str]): JSON-lines file the run's record is appended to (created if
        missing); null: no history. FGEN_RUN_HISTORY, when set, replaces it.
    run_dir (Optional[str]): folder of log.jsonl; null: the `spacy train --output` folder, and
        no log when training has no output folder.
    name (Optional[str]): the run's name in the history; null: the run folder's name.
    progress_bar (bool): spaCy's progress bar between evaluations (as spacy.ConsoleLogger.v1).
    console (bool): print spaCy's table of losses and scores.
    RETURNS: the logger setup function spaCy calls with (nlp, stdout, stderr).
    """
    console_logger = spacy.registry.get("loggers", "spacy.ConsoleLogger.v1")(progress_bar=progress_bar) if console else None

    def setup_logger(nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[LogStep, Callable[[], None]]:
        recorder = RunRecorder(nlp, os.environ.get(HISTORY_ENV) or history, run_dir, name, stdout)
        console_step, console_finalize = console_logger(nlp, stdout, stderr) if console_logger else (None, None)

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            if console_step is not None:
                console_step(info)
            recorder.step(info)

        def finalize() -> None:
            status = _status()
            if console_finalize is not None:
                console_finalize()
            recorder.finish(status)

        return log_step, finalize

    return setup_logger


def append_record(path: Union[str, Path], record: Dict[str, Any]) -> None:
    """Append one JSON line to `path` in a single write, so concurrent runs do not interleave."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record) + "\n").encode("utf8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # O_APPEND: each write lands at the end
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_jsonl(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """The records of a JSON-lines file; missing file: none; unreadable lines (e.g. a line cut
    short by a killed process) are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_history(path: Union[str, Path] = DEFAULT_HISTORY) -> List[Dict[str, Any]]:
    """The run history, oldest first."""
    return read_jsonl(path)


def find_run(records: List[Dict[str, Any]], name: str) -> Optional[Dict[str, Any]]:
    """The latest record named `name` (or whose run_dir is `name`), else None."""
    wanted = Path(name).resolve()
    for record in reversed(records):
        if record.get("name") == name or (record.get("run_dir") and Path(record["run_dir"]).resolve() == wanted):
            return record
    return None


__all__ = ["make_run_logger", "flatten_scores", "step_record", "encoder_name", "best_step", "checkpoint_view",
           "append_record", "read_jsonl",
           "read_history", "find_run", "RunRecorder", "LOG_NAME", "DEFAULT_HISTORY", "HISTORY_ENV"]
