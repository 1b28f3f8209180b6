"""The annotate journal under fgen.util.atomic's durability policy: started and rewritten
atomically, appended through `DurableAppend` (synced on its interval and on close, not per
line), fsynced after a torn last line is cut off; and entries of older journals with integer
ids resume as the string ids records have now.

The pipeline is test_annotate's (entity_ruler + `annotate_test_fgen`, fixtures in conftest.py).
"""
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import List, Tuple

import pytest

import fgen.annotate.run_loop as run_loop
import fgen.util.atomic as atomic
from fgen.annotate.journal import journal_header, journal_line, journal_path, recover_journal
from fgen.annotate.run_loop import annotate
from tests.annotate.test_annotate import LINKED, PLAIN, UNLINKED, read_output, write_jsonl_input


@pytest.fixture
def fsyncs(monkeypatch) -> List[Tuple[str, int]]:
    """(path, size) of every file fsynced, in order."""
    calls: List[Tuple[str, int]] = []
    real = os.fsync

    def recording(fd: int) -> None:
        calls.append((os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return calls


@pytest.fixture
def source(tmp_path) -> Path:
    texts = [LINKED, UNLINKED, PLAIN, LINKED.upper(), UNLINKED.lower(), PLAIN.upper()]
    return write_jsonl_input(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])


def journal_syncs(fsyncs: List[Tuple[str, int]], journal: Path) -> List[int]:
    return [size for path, size in fsyncs if path == str(journal.resolve())]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fsynced files through /proc")
@pytest.mark.parametrize("step, synced_per_entry", [(0.0, False), (5.0, True)])
def test_journal_entries_are_synced_on_the_interval_and_at_the_end(nlp, source, tmp_path, monkeypatch, fsyncs, step, synced_per_entry):
    # the interval runs on a clock that stands still (no sync before the close) or moves past it on every read
    clock = {"now": 0.0}

    def monotonic() -> float:
        clock["now"] += step
        return clock["now"]

    monkeypatch.setattr(atomic, "time", SimpleNamespace(monotonic=monotonic))
    out = tmp_path / "out.jsonl"
    journal = journal_path(out)
    sizes = []
    real_render = run_loop.render_output

    def render(path, *args):
        sizes.append(Path(path).stat().st_size)  # the journal, complete, before it is deleted
        return real_render(path, *args)

    monkeypatch.setattr(run_loop, "render_output", render)
    annotate(nlp, source, out, batch_size=2)
    synced = journal_syncs(fsyncs, journal)
    header = len(journal_header(run_loop.model_source(nlp), run_loop.input_source([source], False)))
    assert synced[-1] == sizes[0]  # every entry on disk before the output is rendered from them
    entries = [size for size in synced if size > header]
    assert len(entries) == (6 if synced_per_entry else 1)
    assert [r["id"] for r in read_output(out)] == [f"r{i}" for i in range(6)]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fsynced files through /proc")
def test_journal_is_started_atomically_and_synced_after_its_torn_entry_is_cut(nlp, source, tmp_path, fsyncs):
    out = tmp_path / "out.jsonl"
    journal = journal_path(out)
    header = journal_header(run_loop.model_source(nlp), run_loop.input_source([source], False))
    run_loop.start_journal(journal, header)
    # written through a temporary file (synced, renamed), then the folder synced
    assert [Path(path).name.startswith(f".{journal.name}.") for path, _ in fsyncs] == [True, False]
    assert fsyncs[-1][0] == str(tmp_path)
    entry = journal_line("r0", nlp(LINKED))
    with journal.open("ab") as handle:
        handle.write(entry + entry[:10])  # killed while writing the second entry
    fsyncs.clear()
    state = recover_journal(journal, header)
    assert state.done == {"r0"} and [p.reason for p in state.problems] == ["truncated last entry ignored"]
    assert journal_syncs(fsyncs, journal) == [len(header) + len(entry)]


def test_journal_of_integer_ids_resumes_with_string_ids(nlp, tmp_path):
    # a journal written when integer ids of a JSONL input stayed integers
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate([LINKED, UNLINKED, PLAIN])])
    out = tmp_path / "out.jsonl"
    journal = journal_path(out)
    header = journal_header(run_loop.model_source(nlp), run_loop.input_source([source], False))
    old = [json.loads(journal_line("0", nlp(LINKED))), {"id": "1", "failed": "the pipeline failed on it (ValueError: boom)"}]
    old[0]["id"], old[1]["id"] = 0, 1
    journal.write_bytes(header + b"".join((json.dumps(e) + "\n").encode() for e in old))
    summary = annotate(nlp, source, out, resume=True)
    assert (summary.resumed, summary.annotated, summary.failed, summary.skipped) == (1, 1, 0, 1)
    assert [r["id"] for r in read_output(out)] == ["0", "2"]
