"""annotate never destroys data and refuses what it cannot do right (issue 11): output locations,
options, resume from another model or input, damaged journals, XML-safe MAE files, records the
pipeline fails on, clear errors before the model loads, ids, journal size, and a fault-injection
run killed at random points and resumed.

The pipeline is test_annotate's (entity_ruler + `annotate_test_fgen`, fixtures in conftest.py).
"""
import base64
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from spacy.util import raise_error
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

import fgen.annotate.run_loop as run_loop
from fgen.annotate.inputs import AnnotateError
from fgen.annotate.journal import journal_line, journal_path
from fgen.annotate.output_location import OUTPUT_MARKER
from fgen.annotate.run_loop import annotate
from fgen.doc_layout import SPAN_KEY
from tests.annotate.test_annotate import (
    LEXICON, LINKED, PLAIN, UNLINKED, article, build_nlp, pubmed, read_output, run_cli_here, write_jsonl_input,
)
from tests.conftest import run_script


@pytest.fixture
def five(tmp_path) -> Path:
    texts = [LINKED, UNLINKED, PLAIN, LINKED.upper(), UNLINKED.lower()]
    folder = tmp_path / "dir"
    folder.mkdir()
    return write_jsonl_input(folder / "five.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])


def tree(folder: Path) -> list:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ---------------------------------------------------------------- 1. outputs never remove what fgen did not write


def test_mae_output_never_removes_files_it_did_not_write(nlp, five, tmp_path, v2_scheme):
    folder = five.parent
    (folder / "keep.txt").write_text("unrelated")
    before = tree(tmp_path)
    with pytest.raises(AnnotateError, match=r"dir: the output contains the input .*five.jsonl"):
        annotate(nlp, five, folder, scheme=v2_scheme)
    with pytest.raises(AnnotateError, match=r"the output contains the input .*dir"):
        annotate(nlp, folder, tmp_path, scheme=v2_scheme)  # parent/inputs into parent
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.docx").write_text("not ours")
    with pytest.raises(AnnotateError, match=r"other: the folder holds files fgen did not write \(notes.docx\)"):
        annotate(nlp, five, other, scheme=v2_scheme)
    assert tree(tmp_path) == before + ["other", "other/notes.docx"]
    # an earlier output of fgen (its marker lists every file) is replaced as a whole
    out = tmp_path / "mae"
    annotate(nlp, five, out, scheme=v2_scheme)
    assert json.loads((out / OUTPUT_MARKER).read_text())["files"] == ["r0.xml", "r1.xml", "r2.xml", "r3.xml", "r4.xml"]
    write_jsonl_input(five, [{"id": "only", "text": LINKED}])
    annotate(nlp, five, out, scheme=v2_scheme)
    assert tree(out) == [OUTPUT_MARKER, "only.xml"]
    (out / "mine.txt").write_text("an annotator's notes, added later")
    with pytest.raises(AnnotateError, match=r"holds files fgen did not write \(mine.txt\)"):
        annotate(nlp, five, out, scheme=v2_scheme)
    assert (out / "mine.txt").exists() and (out / "only.xml").exists()


def test_mae_files_corrected_since_they_were_written_are_never_replaced(nlp, five, tmp_path, v2_scheme):
    out = tmp_path / "mae"
    annotate(nlp, five, out, scheme=v2_scheme)
    corrected = (out / "r1.xml").read_text(encoding="utf8").replace("promotes", "PROMOTES")
    (out / "r1.xml").write_text(corrected, encoding="utf8")  # an annotator's edit in MAE
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(AnnotateError, match=r"mae: r1.xml changed since fgen wrote it"):
        run_loop.check_run(five, out)  # refused before the model loads
    with pytest.raises(AnnotateError, match=r"mae: r1.xml changed since fgen wrote it"):
        annotate(nlp, five, out, scheme=v2_scheme)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "r1.xml").unlink()  # moved away by the annotator: the rest is fgen's and replaced
    annotate(nlp, five, out, scheme=v2_scheme)
    assert tree(out) == [OUTPUT_MARKER, "r0.xml", "r1.xml", "r2.xml", "r3.xml", "r4.xml"]


def test_file_output_is_never_the_input(nlp, five):
    with pytest.raises(AnnotateError, match="the output is the input"):
        annotate(nlp, five, five, fmt="jsonl")
    assert json.loads(five.read_text().splitlines()[0])["id"] == "r0"


# ---------------------------------------------------------------- 2. and 9. options and output location, before the model


@pytest.mark.parametrize("option, value, reason", [
    ("--batch-size", 0, "--batch-size 0: must be 1 or more"),
    ("--batch-size", -5, "--batch-size -5: must be 1 or more"),
    ("--n-process", 0, "--n-process 0: must be 1 or more"),
    ("--n-process", -3, "--n-process -3: must be 1 or more"),
    ("--max-chars", 0, "--max-chars 0: must be 1 or more"),
    ("--max-tokens", -1, "--max-tokens -1: must be 1 or more"),
])
def test_bad_options_refused_before_the_model_loads(five, tmp_path, option, value, reason):
    result = run_cli_here(tmp_path / "no_model", five, tmp_path / "out.jsonl", option, value)
    assert result.returncode == 1 and reason in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert "cannot load the pipeline" not in result.stdout  # checked first


def test_options_checked_by_the_api_too(nlp, five, tmp_path):
    with pytest.raises(AnnotateError, match="--batch-size 0: must be 1 or more"):
        annotate(nlp, five, tmp_path / "out.jsonl", batch_size=0)
    assert not (tmp_path / "out.jsonl").exists() and not journal_path(tmp_path / "out.jsonl").exists()


def test_unwritable_outputs_refused_before_the_model_loads(five, tmp_path, monkeypatch):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (a_file / "out.jsonl", f"{a_file / 'out.jsonl'}: cannot be created ({a_file} is a file, not a folder)"),
        (a_file / "deeper" / "mae", f"cannot be created ({a_file} is a file, not a folder)"),
        (Path("."), ".: the folder holds files fgen did not write"),  # the CLI runs in the repository
    ]
    if Path("/proc/self").is_dir():  # a special file system where even root creates nothing
        cases.append((Path("/proc/fgen/out.jsonl"), "/proc/fgen/out.jsonl: cannot be written (no file can be created in /proc"))
    for output, reason in cases:
        result = run_cli_here(tmp_path / "no_model", five, output)
        assert result.returncode == 1 and reason in result.stdout, result.stdout
        assert len(result.stdout.strip().splitlines()) == 1 and "cannot load" not in result.stdout
    import fgen.annotate.output_location as location

    monkeypatch.setattr(location, "writable", lambda folder: False)  # as on a read-only file system
    result = run_cli_here(tmp_path / "no_model", five, tmp_path / "ro" / "out.jsonl")
    assert result.returncode == 1 and f"{tmp_path / 'ro' / 'out.jsonl'}: cannot be written (no file can be created in {tmp_path}: read-only" in result.stdout


# ---------------------------------------------------------------- 3. resume checks where the journal came from


def interrupted(nlp, source: Path, out: Path, after: int = 2) -> None:
    def stop(done: int) -> None:
        if done == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        annotate(nlp, source, out, batch_size=1, on_progress=stop)


def test_resume_refuses_another_input_or_model(nlp, five, tmp_path):
    out = tmp_path / "out.jsonl"
    interrupted(nlp, five, out)
    other = write_jsonl_input(tmp_path / "other.jsonl", [{"id": "x", "text": PLAIN}])
    with pytest.raises(AnnotateError, match=r"cannot resume: it was written for another input \(.*five.jsonl is not part of this one\)"):
        annotate(nlp, other, out, resume=True)
    with pytest.raises(AnnotateError, match="cannot resume: it was written with another model"):
        annotate(spacy.blank("en"), five, out, resume=True)
    retrained = build_nlp()
    retrained.get_pipe("entity_ruler").add_patterns([{"label": "EFFECT", "pattern": "see"}])
    retrained.to_disk(tmp_path / "model-last")
    with pytest.raises(AnnotateError, match="cannot resume: it was written with another model"):
        annotate(spacy.load(tmp_path / "model-last"), five, out, resume=True)
    with pytest.raises(AnnotateError, match="cannot resume: it was written with another --whole-file setting"):
        annotate(nlp, five, out, resume=True, whole_file=True)
    five.write_text(five.read_text() + json.dumps({"id": "r5", "text": PLAIN}) + "\n")
    with pytest.raises(AnnotateError, match=r"cannot resume: the input changed since \(.*five.jsonl"):
        annotate(nlp, five, out, resume=True)
    assert not out.exists() and journal_path(out).exists()  # refused: nothing touched


def test_resume_compares_the_input_by_content_not_modification_time(nlp, five, tmp_path):
    out = tmp_path / "out.jsonl"
    interrupted(nlp, five, out)
    content = five.read_bytes()
    five.unlink()
    (tmp_path / "backup.jsonl").write_bytes(content)
    shutil.copy(tmp_path / "backup.jsonl", five)  # restored by `cp`: same bytes, a new mtime
    os.utime(five, ns=(five.stat().st_atime_ns, five.stat().st_mtime_ns + 10**9))
    summary = annotate(nlp, five, out, resume=True)
    assert (summary.resumed, summary.annotated) == (2, 3)
    assert [r["id"] for r in read_output(out)] == [f"r{i}" for i in range(5)]
    interrupted(nlp, five, out)
    five.write_bytes(content.replace(b"r4", b"r9"))  # same size and mtime, other content
    os.utime(five, ns=(five.stat().st_atime_ns, five.stat().st_mtime_ns - 10**9))
    with pytest.raises(AnnotateError, match=r"cannot resume: the input changed since \(.*five.jsonl has other content\)"):
        annotate(nlp, five, out, resume=True)


# ---------------------------------------------------------------- 4. a damaged journal entry


def test_unreadable_journal_entry_is_dropped_and_its_record_annotated_again(nlp, five, tmp_path):
    out = tmp_path / "out.jsonl"
    interrupted(nlp, five, out, after=3)
    journal = journal_path(out)
    lines = journal.read_bytes().splitlines(keepends=True)
    not_a_doc = base64.b64encode(b"valid base64, but not a DocBin").decode()
    lines[2] = (json.dumps({"id": "r1", "doc": not_a_doc}) + "\n").encode()
    journal.write_bytes(b"".join(lines))
    problems = []
    summary = annotate(nlp, five, out, resume=True, on_problem=lambda p: problems.append(str(p)))
    assert problems == [f"{journal}:3: unreadable entry (dropped; its record is annotated again)"]
    assert (summary.annotated, summary.resumed, summary.written) == (3, 2, 5)
    assert sorted(r["id"] for r in read_output(out)) == ["r0", "r1", "r2", "r3", "r4"]


# ---------------------------------------------------------------- 5. MAE files read back with the same entities


SEPARATORS = [" ", "\r\n", "\n", "\x0b", "\x01", "\x0c", "\t", " ]]> ", " & ", " <b> ", " \u00e9\u03b1 ", "\r", "\x1f "]


def random_text(rng: random.Random) -> str:
    phrases = [*LEXICON, "cells", "the", "ATG12", "x"]
    pieces = []
    for _ in range(rng.randint(3, 14)):
        phrase = rng.choice(phrases)
        pieces += [rng.choice([phrase, phrase.upper(), phrase.title()]), rng.choice(SEPARATORS)]
    return "".join(pieces) + "."


def test_mae_output_reads_back_through_convert_with_the_same_entities(nlp, tmp_path, tiny_corpus, v2_scheme):
    rng = random.Random(5)
    texts = sorted({random_text(rng) for _ in range(40)})
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)])
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    (crlf / "whole.txt").write_bytes(f"{LINKED}\r\n\r\n{UNLINKED}\x0c\r\n".encode())
    expected = {}
    for name, inputs, whole in (("in", source, False), ("crlf", crlf, True)):
        annotate(nlp, inputs, tmp_path / f"{name}_out.jsonl", whole_file=whole)
        annotate(nlp, inputs, tmp_path / f"{name}_mae", scheme=v2_scheme, whole_file=whole)
        for row in read_output(tmp_path / f"{name}_out.jsonl"):
            expected[row["id"]] = (row["text"], [(e["start"], e["end"], e["label"], e["value"]) for e in row["entities"]])
    assert sum(len(ents) for _, ents in expected.values()) > 100
    result = run_script("convert", tmp_path / "in_mae", tmp_path / "crlf_mae", tmp_path / "back.spacy", "--definitions", tiny_corpus)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = list(DocBin().from_disk(tmp_path / "back.spacy").get_docs(Vocab()))
    assert len(docs) == len(expected)
    for doc in docs:
        doc_id = Path(doc._.provenance["source"]).stem
        text, ents = expected[doc_id]
        assert doc.text.count("\r") == text.count("\r") and len(doc.text) == len(text)  # CR kept, no shift
        got = sorted((s.start_char, s.end_char, s.label_, s.kb_id_) for s in doc.spans[SPAN_KEY])
        assert got == sorted(ents), doc_id


# ---------------------------------------------------------------- 6. a record the pipeline fails on is skipped


@Language.component("annotate_test_fails_on_boom")
def fails_on_boom(doc: Doc) -> Doc:
    if "boom" in doc.text:
        raise MemoryError("out of memory on this one")
    return doc


def test_record_the_pipeline_fails_on_is_reported_and_skipped(tmp_path):
    nlp = build_nlp()
    nlp.add_pipe("annotate_test_fails_on_boom")
    rows = [{"id": "a", "text": LINKED}, {"id": "b", "text": "boom"}, {"id": "c", "text": PLAIN}, {"id": "d", "text": UNLINKED}]
    source = write_jsonl_input(tmp_path / "in.jsonl", rows)
    problems = []
    out = tmp_path / "out.jsonl"
    summary = annotate(nlp, source, out, batch_size=2, on_problem=lambda p: problems.append(str(p)))
    assert problems == [f"{source}:2: the pipeline failed on it (MemoryError: out of memory on this one)"]
    assert (summary.annotated, summary.skipped, summary.failed) == (3, 1, 1)
    assert [r["id"] for r in read_output(out)] == ["a", "c", "d"]  # "c", in the failing batch, annotated alone
    assert nlp.default_error_handler is raise_error and nlp.get_pipe("entity_ruler").get_error_handler() is raise_error


def test_failed_record_is_not_tried_again_on_resume(tmp_path):
    nlp = build_nlp()
    nlp.add_pipe("annotate_test_fails_on_boom")
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": "boom"}, {"id": "b", "text": LINKED}, {"id": "c", "text": PLAIN}])
    out = tmp_path / "out.jsonl"
    interrupted(nlp, source, out, after=1)
    problems = []
    summary = annotate(nlp, source, out, resume=True, on_problem=lambda p: problems.append(str(p)))
    assert problems == [f"{source}:1: skipped: the pipeline failed on it in the interrupted run"]
    assert (summary.annotated, summary.resumed, summary.skipped) == (1, 1, 1)
    assert [r["id"] for r in read_output(out)] == ["b", "c"]


# ---------------------------------------------------------------- 10. nothing annotated: exit code 1 and why


def test_nothing_annotated_exits_1_with_the_reason(model_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(bytes(random.Random(1).randrange(128, 256) for _ in range(300)))
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><PubmedArticleSet>&lol2;</PubmedArticleSet>')
    truncated = tmp_path / "truncated.xml"
    truncated.write_text(pubmed(article("1", LINKED, [UNLINKED]))[:150])
    for path, why in ((empty, "the input holds no records"), (garbage, "1 skipped, see above"), (bomb, "1 skipped"), (truncated, "1 skipped")):
        out = tmp_path / f"{path.stem}.jsonl"
        result = run_cli_here(model_dir, path, out)
        assert result.returncode == 1, (path, result.stdout)
        assert f"{path}: no record could be annotated ({why}" in result.stdout and "Traceback" not in result.stdout
        assert not out.exists() and not journal_path(out).exists()


# ---------------------------------------------------------------- 11. ids and MAE file names


def test_ids_are_strings_and_mae_names_keep_one_suffix(nlp, tmp_path, v2_scheme):
    # One rule on every path and output: an integer id is its decimal string, so 7 and "7" are one id.
    source = write_jsonl_input(tmp_path / "in.jsonl", [
        {"id": 7, "text": LINKED}, {"id": "7", "text": UNLINKED}, {"id": "12_PMID34.txt_CC2.xml", "text": PLAIN}, {"id": "7.xml", "text": PLAIN},
    ])
    problems = []
    annotate(nlp, source, tmp_path / "out.jsonl", on_problem=lambda p: problems.append(str(p)))
    assert problems == [f"{source}:2: duplicate id '7' (first at {source}:1)"]
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == ["7", "12_PMID34.txt_CC2.xml", "7.xml"]
    annotate(nlp, source, tmp_path / "mae", scheme=v2_scheme)
    assert tree(tmp_path / "mae") == [OUTPUT_MARKER, "12_PMID34.txt_CC2.xml", "7-2.xml", "7.xml"]
    annotate(nlp, source, tmp_path / "out.html")
    assert (tmp_path / "out.html").read_text().count("<h2>7</h2>") == 1
    annotate(nlp, source, tmp_path / "out.spacy")
    assert [d._.provenance["id"] for d in DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab())] == ["7", "12_PMID34.txt_CC2.xml", "7.xml"]


# ---------------------------------------------------------------- 13. a compact journal


def test_journal_entry_is_compact(nlp):
    doc = nlp(" ".join([LINKED, UNLINKED, PLAIN] * 10))
    before = len(base64.b64encode(doc.to_bytes(exclude=["tensor"])))  # what an entry held
    entry = journal_line("a", doc)
    assert len(entry) * 4 < before and len(entry) < 4 * len(doc.text.encode())
    back = next(DocBin().from_bytes(base64.b64decode(json.loads(entry)["doc"])).get_docs(Vocab()))
    assert [(s.start_char, s.end_char, s.label_, s.kb_id_) for s in back.spans[SPAN_KEY]] == [
        (s.start_char, s.end_char, s.label_, s.kb_id_) for s in doc.spans[SPAN_KEY]]
    assert back._.link_scores == doc._.link_scores and back.ents[0]._.confidence == doc.ents[0]._.confidence


# ---------------------------------------------------------------- fault injection: killed anywhere, resumed


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even `except Exception`)."""


def test_killed_at_random_points_and_resumed_gives_every_id_once(nlp, tmp_path, monkeypatch, v2_scheme):
    ids = [f"r{i}" for i in range(12)]
    texts = [LINKED, UNLINKED, PLAIN, LINKED.upper()]
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": i, "text": texts[n % 4]} for n, i in enumerate(ids)])
    real_line, real_render, real_start = run_loop.journal_line, run_loop.render_output, run_loop.start_journal
    for seed in range(6):
        rng = random.Random(seed)
        out = tmp_path / (f"out{seed}.jsonl" if seed % 2 else f"mae{seed}")
        state = {"lines": 0}

        def killing_line(doc_id, doc):
            # killed while writing the journal: a random part of this entry reaches the disk
            line = real_line(doc_id, doc)
            state["lines"] += 1
            if state["lines"] == state["kill_at"]:
                with journal_path(out).open("ab") as handle:
                    handle.write(line[: rng.randrange(len(line))])
                raise Killed
            return line

        def killing_render(journal, output, *args):
            # killed while writing the output: its temporary file stays behind
            if state["kill_render"]:
                state["kill_render"] = False
                tmp = Path(output).parent / f".{Path(output).name}.abcd1234{'.tmp' if Path(output).suffix else ''}"
                (tmp.mkdir() if not Path(output).suffix else tmp.write_text("half"))
                raise Killed
            return real_render(journal, output, *args)

        def killing_start(journal, header):
            # killed while starting the journal: part of its header reaches the disk
            if state["kill_start"]:
                state["kill_start"] = False
                Path(journal).write_bytes(header[: rng.randrange(len(header))])
                raise Killed
            real_start(journal, header)

        monkeypatch.setattr(run_loop, "journal_line", killing_line)
        monkeypatch.setattr(run_loop, "start_journal", killing_start)
        monkeypatch.setattr(run_loop, "render_output", killing_render)
        runs = 0
        while True:
            state.update(lines=0, kill_at=rng.randint(1, 8), kill_render=rng.random() < 0.5, kill_start=runs == 0 and seed % 3 == 0)
            runs += 1
            try:
                annotate(nlp, source, out, resume=True, batch_size=rng.randint(1, 4), scheme=v2_scheme)
                break
            except Killed:
                assert runs < 30
        if out.suffix:
            got = [r["id"] for r in read_output(out)]
        else:
            got = [p.stem for p in sorted(out.iterdir()) if p.suffix == ".xml"]
            ids = sorted(ids)
        assert got == ids, seed
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")) == []  # no leftovers
        assert not journal_path(out).exists()
        ids = [f"r{i}" for i in range(12)]


def test_text_that_is_not_unicode_is_skipped_not_fatal_at_the_final_write(nlp, tmp_path):
    # JSON can escape a lone surrogate, which no UTF-8 output can hold
    source = write_jsonl_input(tmp_path / "in.jsonl", [
        {"id": "bad", "text": "Knockdown \ud800 of ATG12"}, {"id": "good", "text": LINKED}, {"id": "\udfff", "text": PLAIN}])
    problems = []
    annotate(nlp, source, tmp_path / "out.jsonl", on_problem=lambda p: problems.append(str(p)))
    assert problems == [f'{source}:1: "text" holds a lone surrogate (\\ud800 at 10), not Unicode text',
                        f'{source}:3: "id" holds a lone surrogate, not Unicode text']
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == ["good"]
