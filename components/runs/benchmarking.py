"""What fgen's benchmark scripts share: training runs, speed, mean ± std and report sections."""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Dict, Iterable, List, Optional, Sequence, Tuple

import spacy
import srsly
from spacy.language import Language
from spacy.tokens import DocBin

from fgen.corpus.splits import make_groups, split_train_dev
from fgen.runs.seed_training import threaded_env, usable_cores
from fgen.util.atomic import write_bytes_atomic

# `spacy train` evaluates on dev every this many steps when no model is chosen on dev: never.
NO_EVALUATION = 100_000_000


def train_run(
    config: Path,
    run_dir: Path,
    train: Path,
    dev: Path,
    epochs: int,
    definitions: Path,
    gpu_id: int = -1,
    overrides: Sequence[str] = (),
    eval_frequency: Optional[int] = None,
) -> float:
    """`spacy train` for a fixed number of epochs into `run_dir`; returns the seconds per epoch.

    A run that finished earlier (model-last and timing.json present) is not repeated, so an
    interrupted benchmark goes on where it stopped. The config's max_steps is switched off
    unless its learning-rate schedule is defined over it (the transformer's warmup): then it
    stays an upper bound. overrides: "KEY=VALUE" items, passed as `--KEY VALUE`.
    eval_frequency: score `dev` every that many steps (model-best is the best of those); None:
    never (only model-last means anything, and `dev` may be the test fold).
    """
    timing = run_dir / "timing.json"
    if (run_dir / "model-last").exists() and timing.exists():
        return srsly.read_json(timing)["seconds_per_epoch"]
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(run_dir),
           "--paths.train", str(train), "--paths.dev", str(dev), "--paths.definitions", str(definitions),
           "--training.max_epochs", str(epochs), "--training.patience", "0",
           "--training.eval_frequency", str(eval_frequency or NO_EVALUATION), "--gpu-id", str(gpu_id)]
    if "${training.max_steps}" not in config.read_text(encoding="utf8"):
        cmd += ["--training.max_steps", "0"]
    for item in overrides:
        key, _, value = item.partition("=")
        cmd += [f"--{key}", value]
    # One BLAS/torch thread per run: parallel runs share the cores without oversubscription.
    env = threaded_env(1)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with (run_dir / "train.log").open("w") as log:
        peak_rss_mb = run_measured(cmd, log, env)
    seconds = (time.perf_counter() - start) / epochs
    record = {"seconds_per_epoch": seconds, "epochs": epochs, "peak_rss_mb": peak_rss_mb}
    write_bytes_atomic(timing, srsly.json_dumps(record).encode("utf8"))
    return seconds


def carve_dev(train: Path, out_dir: Path, share: float, seed: int = 0) -> Tuple[Path, Path]:
    """Split a training file into a training part and a dev part, to choose a model on without
    touching the test fold; written once into `out_dir` (train.spacy, dev.spacy).

    Docs of one PMID (or source) stay together, and the dev part has its share of the
    link-annotated and entity-only docs, as in scripts/split.py.
    share (float): the dev part's share of the docs, between 0 and 1.
    RETURNS (Tuple[Path, Path]): the training and dev files.
    """
    paths = out_dir / "train.spacy", out_dir / "dev.spacy"
    if all(path.exists() for path in paths):
        return paths
    docs = list(DocBin(store_user_data=True).from_disk(train).get_docs(spacy.blank("en").vocab))
    parts = split_train_dev(make_groups(docs, range(len(docs))), share, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, groups in zip(paths, parts):
        kept = DocBin(store_user_data=True, docs=[docs[i] for group in groups for i in group.docs])
        write_bytes_atomic(path, kept.to_bytes())
    return paths


def run_measured(cmd: List[str], log: IO[str], env: Dict[str, str]) -> float:
    """Run `cmd` to completion with output to `log`; returns its peak resident memory in MB.

    `os.wait4` gives this child's own resource usage, also when other runs go on in parallel.
    RAISES (subprocess.CalledProcessError): the command failed.
    """
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return maxrss_mb(usage.ru_maxrss)


def maxrss_mb(ru_maxrss: int) -> float:
    """`ru_maxrss` (KiB on Linux, bytes on macOS) in MB."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def words_per_second(nlp: Language, texts: List[str], batch_size: int) -> float:
    """Words (non-space tokens) per second of `nlp.pipe`, after one warm-up pass."""
    for _ in nlp.pipe(texts[:16], batch_size=batch_size):
        pass
    start = time.perf_counter()
    n_words = sum(sum(not t.is_space for t in doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    return n_words / (time.perf_counter() - start)


def mean_std(values: Iterable[Optional[float]], scale: float = 100.0, digits: int = 1) -> str:
    """"mean ± std" of the values that are not None (std 0 for one value, "-" for none)."""
    kept = [v for v in values if v is not None]
    if not kept:
        return "-"
    mean = statistics.mean(kept) * scale
    std = statistics.stdev(kept) * scale if len(kept) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def update_report(report: Path, section: str, marks: Tuple[str, str]) -> None:
    """Replace the section of `report` between the `marks` (start, end), or append it."""
    start, end = marks
    text = report.read_text(encoding="utf8") if report.exists() else "# Benchmarks\n"
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_bytes_atomic(report, text.encode("utf8"))


def machine() -> str:
    """The CPU model and the number of cores this process may use, for report headers."""
    name = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            break
    return f"CPU: {name}, {usable_cores()} cores"
