"""Worker processes (issue 11, items 7 and 8): `nlp.pipe(n_process=2)` after the pipeline ran in
the same process, and the workers of a killed `annotate -n 2`, which must die with it; the run
is then resumed (a real SIGKILL) and gives every id exactly once. Real processes, each guarded
by a timeout, so a regression fails instead of hanging."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from tests.annotate.test_annotate import LINKED, PLAIN, REPO, UNLINKED, read_output, run_cli_here, write_jsonl_input

FIXTURES = REPO / "tests" / "fixtures"
PIPE_AFTER_CALL = """
import sys, spacy
nlp = spacy.load(sys.argv[1])
nlp(sys.argv[2] * 20)  # torch starts its OpenMP threads here
docs = list(nlp.pipe([sys.argv[2]] * 8, n_process=2, batch_size=2))
print(len(docs), len(docs[0].spans["fgen"]))
"""


# A fast tokenizer used with its thread pool, then a forked worker that tokenizes, as annotate's
# workers do: huggingface tokenizers warn in every such child unless TOKENIZERS_PARALLELISM is set.
TOKENIZER_FORK = """
import multiprocessing, sys
from tests.tiny_transformer import build_tiny_bert
from transformers import AutoTokenizer
from fgen.util.forking import workers_die_with_parent
tok = AutoTokenizer.from_pretrained(build_tiny_bert(sys.argv[1], ["knockdown of atg12 inhibits tumorigenesis"]))
tok(["knockdown of atg12"] * 64)
with workers_die_with_parent():
    worker = multiprocessing.get_context("fork").Process(target=lambda: tok(["inhibits"] * 8))
    worker.start()
    worker.join()
print("exit", worker.exitcode)
"""


def run_killable(cmd, timeout, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run in a session of its own, all of it killed on timeout (a hung pool too)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(map(str, cmd))[:200]} hung (killed after {timeout} s)")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_pipe_with_processes_after_the_pipeline_ran_does_not_hang():
    expected = json.loads((FIXTURES / "pipeline_0_1_0_predictions.json").read_text())
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # torch's default: a thread pool
    result = run_killable([sys.executable, "-c", PIPE_AFTER_CALL, str(FIXTURES / "pipeline_0_1_0"), expected["text"]], 120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["8", str(len(expected["ents"]))]


def test_forked_workers_do_not_print_the_tokenizers_fork_warning(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}, "PYTHONPATH": str(REPO)}
    result = run_killable([sys.executable, "-c", TOKENIZER_FORK, str(tmp_path / "tiny-bert")], 120, env=env)
    assert result.returncode == 0 and result.stdout.split() == ["exit", "0"], result.stderr[-2000:]
    assert "huggingface/tokenizers" not in result.stdout + result.stderr
    assert "TOKENIZERS_PARALLELISM" not in os.environ


def children(pid: int) -> list:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def start_annotate_with_workers(model_dir, source: Path, out: Path, batch_size: int, **popen) -> subprocess.Popen:
    """scripts/annotate.py with 2 worker processes, in a session of its own."""
    code = REPO / "tests" / "annotate" / "test_annotate.py"
    cmd = [sys.executable, "scripts/annotate.py", model_dir, source, out, "--code", code, "-n", "2", "-b", str(batch_size)]
    return subprocess.Popen(list(map(str, cmd)), cwd=REPO, start_new_session=True, **popen)


def workers_once_journaling(proc: subprocess.Popen, journal: Path) -> List[int]:
    """The worker pids of a running annotate, once its journal holds a few docs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") > 5:
            break
        time.sleep(0.01)
    workers = children(proc.pid)
    assert proc.poll() is None and len(workers) >= 2, "annotate ended or never started its workers"
    return workers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_annotate_and_resume_gives_every_id_once(model_dir, tmp_path):
    ids = [f"r{i}" for i in range(1000)]  # far more than run before the kill, even on a fast machine
    texts = [LINKED, UNLINKED, PLAIN]
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": i, "text": texts[n % 3]} for n, i in enumerate(ids)])
    out = tmp_path / "out.jsonl"
    proc = start_annotate_with_workers(model_dir, source, out, batch_size=1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = workers_once_journaling(proc, tmp_path / "out.jsonl.partial.jsonl")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "workers outlived their parent"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        for w in children(proc.pid):
            os.kill(w, signal.SIGKILL)
    result = run_cli_here(model_dir, source, out, "--resume")  # in this process: the component is registered here
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "from the journal of an earlier run" in result.stdout
    assert [r["id"] for r in read_output(out)] == ids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigint_to_annotate_with_workers_exits_130_with_the_journal_intact(model_dir, tmp_path):
    # Long texts: a worker's docs fill the pipe to the parent, where an interrupted parent used
    # to wait for workers blocked writing to it. SIGINT to the parent alone, as `kill -INT`.
    ids = [f"r{i}" for i in range(60)]
    texts = [" ".join([t] * 60) for t in (LINKED, UNLINKED, PLAIN)]
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": i, "text": texts[n % 3]} for n, i in enumerate(ids)])
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.partial.jsonl"
    proc = start_annotate_with_workers(model_dir, source, out, batch_size=4, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = workers_once_journaling(proc, journal)
        os.kill(proc.pid, signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("annotate -n 2 hung after SIGINT")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stdout[-1000:] + stderr[-2000:]
    assert "Interrupted after" in stdout and "--resume" in stdout
    assert "Traceback" not in stderr and "W127" not in stderr, stderr[-2000:]
    assert not any(alive(w) for w in workers), "workers outlived the interrupted run"
    assert not out.exists() and journal.exists()
    result = run_cli_here(model_dir, source, out, "--resume")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "from the journal of an earlier run" in result.stdout
    assert [r["id"] for r in read_output(out)] == ids
