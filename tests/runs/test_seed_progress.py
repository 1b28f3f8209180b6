"""fgen.runs.seed_progress: each seed's steps, dev score and ETA from its log.jsonl as it grows."""
import io
import json
import os
import sys
import time
from pathlib import Path

from fgen.runs.seed_progress import SeedProgress, max_steps_of, seed_status
from fgen.runs.seed_training import train_seeds
from fgen.util.progress import CLEAR

# A stand-in for `spacy train` with fgen.run_logger.v1: an evaluation line every 100 steps,
# with time to be seen between them.
FAKE_RUN = """
import json, sys, time, pathlib
run_dir, seed = pathlib.Path(sys.argv[1]), int(sys.argv[2])
with (run_dir / "log.jsonl").open("w") as log:
    for n, step in enumerate((100, 200)):
        log.write(json.dumps({"step": step, "seconds": 2.0 * step, "score": 0.5 + seed / 10 + n / 100}) + "\\n")
        log.flush()
        time.sleep(1.2)
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def write_log(run_dir: Path, *records: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_max_steps_from_the_options_else_the_config(tmp_path):
    config = tmp_path / "c.cfg"
    config.write_text("[training]\nmax_steps = 3000\npatience = 0\n")
    assert max_steps_of(config) == 3000
    assert max_steps_of(config, ["--training.max_steps", "50", "--gpu-id", "-1"]) == 50
    assert max_steps_of(config, ["--training.max_steps=70"]) == 70
    assert max_steps_of(config, ["--training.max_steps", "0"]) is None
    assert max_steps_of(tmp_path / "missing.cfg") is None


def test_seed_status_shows_steps_score_and_eta():
    record = {"step": 100, "seconds": 60.0, "score": 0.6123}
    assert seed_status(2, record, 400) == "seed 2: step 100/400, dev score 0.612, ETA 3 min"
    assert seed_status(2, record, None) == "seed 2: step 100, dev score 0.612"
    assert seed_status(0, {"step": 0, "seconds": 1.0, "score": None}, 400) == "seed 0: step 0/400"


def test_a_log_gets_a_line_per_seed_per_evaluation(tmp_path):
    stream = io.StringIO()
    progress = SeedProgress({0: tmp_path / "a", 1: tmp_path / "b"}, 300, stream)
    progress.poll()
    assert stream.getvalue() == ""
    write_log(tmp_path / "a", {"step": 100, "seconds": 10.0, "score": 0.5})
    progress.poll()
    progress.poll()  # nothing new: no new line
    write_log(tmp_path / "b", {"step": 100, "seconds": 20.0, "score": 0.4})
    write_log(tmp_path / "a", {"step": 100, "seconds": 10.0, "score": 0.5}, {"step": 200, "seconds": 20.0, "score": 0.55})
    progress.poll()
    assert stream.getvalue().splitlines() == [
        "seed 0: step 100/300, dev score 0.500, ETA 20s",
        "seed 0: step 200/300, dev score 0.550, ETA 10s",
        "seed 1: step 100/300, dev score 0.400, ETA 40s",
    ]


def test_a_terminal_gets_one_line_of_every_seed_rewritten(tmp_path):
    stream = Terminal()
    progress = SeedProgress({0: tmp_path / "a", 1: tmp_path / "b"}, 300, stream, interval=0)
    write_log(tmp_path / "a", {"step": 100, "seconds": 10.0, "score": 0.5})
    write_log(tmp_path / "b", {"step": 200, "seconds": 20.0, "score": 0.4})
    progress.poll()
    progress.clear()
    assert stream.getvalue() == (f"{CLEAR}seed 0: step 100/300, dev score 0.500, ETA 20s · "
                                 f"seed 1: step 200/300, dev score 0.400, ETA 10s{CLEAR}")


def test_an_earlier_runs_log_is_not_shown(tmp_path):
    write_log(tmp_path / "a", {"step": 900, "seconds": 10.0, "score": 0.9})
    old = time.time() - 3600
    os.utime(tmp_path / "a" / "log.jsonl", (old, old))
    stream = io.StringIO()
    SeedProgress({0: tmp_path / "a"}, 1000, stream).poll()
    assert stream.getvalue() == ""


def test_train_seeds_shows_each_seed_while_it_runs(tmp_path):
    stream = io.StringIO()
    runs = [tmp_path / "run", tmp_path / "run_seed1"]
    progress = SeedProgress(dict(zip([0, 1], runs)), 400, stream)
    train_seeds(Path("unused.cfg"), tmp_path / "run", [0, 1], command=[sys.executable, "-c", FAKE_RUN],
                on_poll=progress.poll, on_done=lambda seed, *_: stream.write(f"done {seed}\n"))
    lines = stream.getvalue().splitlines()
    for seed in (0, 1):
        first = f"seed {seed}: step 100/400, dev score {0.5 + seed / 10:.3f}, ETA 10 min"
        second = f"seed {seed}: step 200/400, dev score {0.51 + seed / 10:.3f}, ETA 7 min"
        assert lines.index(first) < lines.index(second) < lines.index(f"done {seed}")
