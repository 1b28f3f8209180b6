"""One config trained with several seeds at once, one `spacy train` process per seed.

The runs are the members of an ensemble (fgen.pipeline.ner.ensemble_assembly). On a CPU,
single-threaded runs side by side train more steps per second than one run given every core
(docs/benchmarks.md, round 12), so the seeds cost less together than one after the other.

Where each run goes: the first seed's run into OUTPUT itself, so a one-seed run is exactly
`spacy train CONFIG --output OUTPUT --system.seed S`; seed S of the others into OUTPUT_seedS.
Each run writes its console output to train.log in its folder; `fgen.runs.seed_progress` shows
each run's progress from its log.jsonl while it trains (`on_poll`).
"""
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

LOG_NAME = "train.log"
LOG_TAIL_LINES = 20
POLL_SECONDS = 0.5
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# `spacy train` options each run gets from train_seeds itself; `[training] seed` is
# `${system.seed}` in spaCy's configs, so overriding it would give every member one seed.
OWN_OPTIONS = ("--output", "-o", "--system.seed", "--training.seed")


def parse_seeds(text: str) -> List[int]:
    """The seeds of a comma-separated list ("0,1,2").

    RAISES (ValueError): empty, not integers, or a seed listed twice.
    """
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"seeds must be integers separated by commas, got {text!r}") from None
    if not seeds:
        raise ValueError("no seed given")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a seed is listed twice in {text!r}")
    return seeds


def seed_run_dirs(output: Path, seeds: Sequence[int]) -> List[Path]:
    """The run folder of each seed: OUTPUT for the first, OUTPUT_seedS for the others."""
    return [output] + [output.parent / f"{output.name}_seed{seed}" for seed in seeds[1:]]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one); 0 if unknown."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def threads_per_run(n_runs: int, cores: Optional[int] = None) -> int:
    """BLAS/torch threads for each of `n_runs` parallel runs: the cores (default: `usable_cores`)
    shared out, at least 1."""
    return max(1, (usable_cores() if cores is None else cores) // max(1, n_runs))


def threaded_env(threads: int) -> Dict[str, str]:
    """This process's environment with BLAS/torch limited to `threads` threads, for a child."""
    return {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}


def train_command(config: Path, run_dir: Path, seed: int, args: Sequence[str] = ()) -> List[str]:
    """`python -m spacy train` of `config` into `run_dir` with `seed` and further options."""
    return [sys.executable, "-m", "spacy", "train", str(config), "--output", str(run_dir),
            "--system.seed", str(seed), *args]


def train_seeds(
    config: Path,
    output: Path,
    seeds: Sequence[int],
    args: Sequence[str] = (),
    workers: Optional[int] = None,
    command: Optional[List[str]] = None,
    on_done: Optional[Callable[[int, Path, float], None]] = None,
    on_poll: Optional[Callable[[], None]] = None,
) -> List[Path]:
    """Train `config` once per seed, `workers` runs at a time; returns the run folders.

    config (Path): the training config.
    output (Path): the first seed's run folder; the others' sit beside it (`seed_run_dirs`).
    args (Sequence[str]): further `spacy train` options for every run ("--paths.train", "x", ...).
    workers (Optional[int]): runs at once; None: every seed at once.
    command (Optional[List[str]]): run this instead of `spacy train` (with the run folder and
        the seed appended), for tests.
    on_done (Optional[Callable[[int, Path, float], None]]): called with the seed, the run folder
        and the run's seconds as each run succeeds.
    on_poll (Optional[Callable[[], None]]): called every POLL_SECONDS while runs are going, e.g.
        `SeedProgress.poll`.
    RAISES (ValueError): `args` set an option each run gets from here (OWN_OPTIONS).
    RAISES (RuntimeError): a run failed: names its seed, exit status and log, with the log's end.
        The other runs still going are stopped.
    """
    own = [arg for arg in args if arg.split("=")[0] in OWN_OPTIONS]
    if own:
        raise ValueError(f"{', '.join(own)}: set for each run from OUTPUT and the seeds")
    run_dirs = seed_run_dirs(output, seeds)
    workers = min(workers or len(seeds), len(seeds))
    env = threaded_env(threads_per_run(workers))
    waiting = list(zip(seeds, run_dirs))
    running: Dict[int, Tuple[subprocess.Popen, Path, float]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                seed, run_dir = waiting.pop(0)
                run_dir.mkdir(parents=True, exist_ok=True)
                cmd = (command + [str(run_dir), str(seed)] if command
                       else train_command(config, run_dir, seed, args))
                with (run_dir / LOG_NAME).open("w", encoding="utf8") as log:
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                running[seed] = proc, run_dir, time.monotonic()
            time.sleep(POLL_SECONDS)
            if on_poll is not None:
                on_poll()
            for seed, (proc, run_dir, started) in list(running.items()):
                status = proc.poll()
                if status is None:
                    continue
                del running[seed]
                if status != 0:
                    raise RuntimeError(failure_message(seed, status, run_dir / LOG_NAME))
                if on_done is not None:
                    on_done(seed, run_dir, time.monotonic() - started)
    finally:
        for proc, _, _ in running.values():
            proc.terminate()
        for proc, _, _ in running.values():
            proc.wait()
    return run_dirs


def failure_message(seed: int, status: int, log: Path) -> str:
    """What went wrong in one seed's run: its exit status, its log and the log's last lines."""
    lines = log.read_text(encoding="utf8", errors="replace").splitlines() if log.exists() else []
    tail = "\n".join(lines[-LOG_TAIL_LINES:])
    return f"the run with seed {seed} failed (exit status {status}; its log: {log}):\n{tail}"
