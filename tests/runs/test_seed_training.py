"""fgen.runs.seed_training and scripts/train_seeds.py: one config, several seeds at once."""
import os
import sys
import time
from pathlib import Path

import pytest

from fgen.runs.seed_training import (
    LOG_NAME, parse_seeds, seed_run_dirs, threads_per_run, train_command, train_seeds,
)

from ..conftest import run_script

# A stand-in for `spacy train`: gets the run folder and the seed, records what it saw.
RECORD = """
import os, sys, pathlib
run_dir, seed = pathlib.Path(sys.argv[1]), sys.argv[2]
print("training seed", seed)
(run_dir / "done").write_text(seed + " " + os.environ["OMP_NUM_THREADS"])
"""
# Seed 1 fails at once; the other seeds would run for a minute.
FAIL_ONE = """
import os, sys, time, pathlib
run_dir, seed = pathlib.Path(sys.argv[1]), sys.argv[2]
(run_dir / "pid").write_text(str(os.getpid()))
if seed == "1":
    print("boom: no corpus here")
    sys.exit(3)
time.sleep(60)
"""


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("7") == [7]
    for bad in ("", "a,1", "1,1"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_the_first_seed_trains_into_output_the_others_beside_it(tmp_path):
    assert seed_run_dirs(tmp_path / "run", [3]) == [tmp_path / "run"]
    assert seed_run_dirs(tmp_path / "run", [0, 4, 2]) == [tmp_path / "run", tmp_path / "run_seed4",
                                                          tmp_path / "run_seed2"]
    cmd = train_command(Path("c.cfg"), tmp_path / "run_seed4", 4, ["--gpu-id", "-1"])
    assert cmd[1:] == ["-m", "spacy", "train", "c.cfg", "--output", str(tmp_path / "run_seed4"),
                       "--system.seed", "4", "--gpu-id", "-1"]


def test_threads_share_out_the_cores():
    assert threads_per_run(3, cores=2) == 1
    assert threads_per_run(2, cores=8) == 4
    assert threads_per_run(1, cores=2) == 2


@pytest.mark.parametrize("workers", [None, 1])
def test_every_seed_runs_with_its_share_of_the_cores(tmp_path, workers):
    done = []
    runs = train_seeds(Path("unused.cfg"), tmp_path / "run", [0, 1, 2], workers=workers,
                       command=[sys.executable, "-c", RECORD], on_done=lambda *args: done.append(args))
    assert sorted((seed, run_dir) for seed, run_dir, _ in done) == list(zip([0, 1, 2], runs))
    shared = threads_per_run(workers or 3)
    for seed, run_dir in zip([0, 1, 2], runs):
        assert (run_dir / "done").read_text() == f"{seed} {shared}"
        assert f"training seed {seed}" in (run_dir / LOG_NAME).read_text()


def test_a_failed_run_is_named_and_stops_the_others(tmp_path):
    start = time.monotonic()
    with pytest.raises(RuntimeError) as err:
        train_seeds(Path("unused.cfg"), tmp_path / "run", [0, 1, 2], command=[sys.executable, "-c", FAIL_ONE])
    assert time.monotonic() - start < 30
    message = str(err.value)
    assert "seed 1" in message and "exit status 3" in message and "boom: no corpus here" in message
    for run_dir in (tmp_path / "run", tmp_path / "run_seed2"):
        pid = int((run_dir / "pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_script_refuses_bad_seeds_before_training(tmp_path):
    config = tmp_path / "c.cfg"
    config.write_text("[nlp]\n")
    result = run_script("train_seeds", config, tmp_path / "run", "--seeds", "1,1")
    assert result.returncode == 1 and "listed twice" in result.stdout
    own = run_script("train_seeds", config, tmp_path / "run", "--seeds", "0,1", "--system.seed", "5")
    assert own.returncode == 1 and "--system.seed: set for each run" in own.stdout
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option", [["--training.seed", "5"], ["--training.seed=5"]])
def test_the_training_seed_is_refused_as_the_system_seed_is(tmp_path, option):
    # spaCy's [training] seed would give every member the same seed.
    with pytest.raises(ValueError, match="--training.seed"):
        train_seeds(Path("unused.cfg"), tmp_path / "run", [0, 1], args=option,
                    command=[sys.executable, "-c", RECORD])
    assert not (tmp_path / "run").exists()
