"""Each seed's progress while `scripts/train_seeds.py` runs: steps done of max_steps, the latest
dev score and an ETA, read from the run's log.jsonl (`fgen.run_logger.v1` appends a line at every
evaluation) as it grows.

On a terminal one line holds every seed and is rewritten in place; otherwise (a log) a line per
seed is written at each of its evaluations. The ETA assumes the run goes on to max_steps at its
pace so far; training that stops early on `patience` ends sooner.
"""
import time
from pathlib import Path
from typing import IO, Dict, List, Optional, Sequence, Tuple

from spacy.util import load_config

from fgen.runs.run_logger import LOG_NAME as RUN_LOG, read_jsonl
from fgen.util.progress import StatusLine, format_eta

MAX_STEPS_OPTION = "--training.max_steps"


def max_steps_of(config: Path, args: Sequence[str] = ()) -> Optional[int]:
    """The run's `[training] max_steps`: `--training.max_steps` in `args`, else the config's;
    None when unknown or 0 (no limit)."""
    value: object = None
    for i, arg in enumerate(args):
        if arg == MAX_STEPS_OPTION and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(MAX_STEPS_OPTION + "="):
            value = arg.split("=", 1)[1]
    if value is None:
        try:
            value = load_config(config, interpolate=False)["training"]["max_steps"]
        except Exception:  # no config, or no such setting: progress without a total
            return None
    try:
        steps = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return steps if steps > 0 else None


def seed_status(seed: int, record: Dict, max_steps: Optional[int]) -> str:
    """One seed's progress from its latest log.jsonl record."""
    step = int(record.get("step") or 0)
    seconds = record.get("seconds") or 0.0
    parts = [f"step {step}/{max_steps}" if max_steps else f"step {step}"]
    if record.get("score") is not None:
        parts.append(f"dev score {record['score']:.3f}")
    if max_steps and step > 0:
        parts.append(f"ETA {format_eta((max_steps - step) * seconds / step)}")
    return f"seed {seed}: " + ", ".join(parts)


class SeedProgress:
    """Shows each seed's progress from its run folder's log.jsonl; call `poll` now and then.

    run_dirs (Dict[int, Path]): each seed's run folder.
    max_steps (Optional[int]): the runs' max_steps (`max_steps_of`); None: steps without a total.
    stream (Optional[IO[str]]): where to write; default stderr.
    interval (float): least seconds between rewrites of the in-place line on a terminal.
    """

    def __init__(self, run_dirs: Dict[int, Path], max_steps: Optional[int],
                 stream: Optional[IO[str]] = None, interval: float = 1.0):
        self.run_dirs = dict(run_dirs)
        self.max_steps = max_steps
        self.line = StatusLine(stream)
        self.interval = interval
        # A log.jsonl left by an earlier run in the same folder is not this run's.
        self.since = time.time()
        self.seen: Dict[int, Tuple[int, int]] = {}
        self.latest: Dict[int, Dict] = {}
        self.last_shown = 0.0
        self.pending = False

    def _read(self, seed: int) -> Optional[Dict]:
        """The seed's newest record if its log changed since the last look, else None."""
        log = self.run_dirs[seed] / RUN_LOG
        try:
            stat = log.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        if stat.st_mtime < self.since - 1 or self.seen.get(seed) == key:
            return None
        self.seen[seed] = key
        records = read_jsonl(log)
        return records[-1] if records else None

    def poll(self) -> None:
        """Read the logs that grew; show what is new."""
        changed: List[int] = []
        for seed in self.run_dirs:
            record = self._read(seed)
            if record is not None and record != self.latest.get(seed):
                self.latest[seed] = record
                changed.append(seed)
        if self.line.tty:
            self.pending = self.pending or bool(changed)
            now = time.monotonic()
            if self.pending and now - self.last_shown >= self.interval:
                self.last_shown, self.pending = now, False
                self.line.show(" · ".join(seed_status(s, r, self.max_steps) for s, r in sorted(self.latest.items())))
        else:
            for seed in changed:
                self.line.show(seed_status(seed, self.latest[seed], self.max_steps))

    def clear(self) -> None:
        """Clear the in-place line (before other output)."""
        self.line.clear()
