"""fgen.annotate.distributed and scripts/annotate_ray.py on a local Ray cluster started once for this
module: Parquet rows equal to the single-machine annotate's JSONL across a worker that dies
mid-file, a resume and a corrupt input; gzipped and structured PubMed input; BioC and PubTator
outputs, done by their sidecars (on Ray once, the rest by `annotate_file` in this process).

Ray workers are fresh processes: they get the test components by importing this file (`code`,
as `--code`), which imports test_annotate.py's by its path, not from the tests package. Every
Ray run starts actors (seconds each), so one run checks several things.
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import bioc
import pytest
import ray
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import import_file

import fgen  # noqa: F401  registers the Doc and Span extensions
from fgen.annotate.distributed import (
    DUPLICATES, FORMATS, MANIFEST, SIDECAR_SUFFIX, Interrupted, annotate_file, done_entry, expand_inputs, is_done, output_ids, output_name,
    rebuild_manifest, remove_temporaries, report_duplicates, run,
)
from fgen.annotate.inputs import AnnotateError
from fgen.formats.parquet import MANIFEST_KEY, read_parquet_rows
from fgen.annotate.run_loop import annotate

pytestmark = pytest.mark.xdist_group("ray")  # one worker runs them all: one cluster

# The test pipeline (an entity_ruler plus `annotate_test_fgen`), also in the Ray workers.
TEST_PIPELINE = import_file("fgen_test_annotate_pipeline", Path(__file__).with_name("test_annotate.py"))
LINKED = "Knockdown of ATG12 inhibits tumorigenesis in UM cells."
UNLINKED = "Overexpression of ZNNT1 promotes autophagy."
CRASH = "CRASH here"
BOOM = "Knockdown of ATG12 goes BOOM."


def article(pmid: str, sections) -> str:
    parts = "".join(f'<AbstractText Label="{label}">{text}</AbstractText>' for label, text in sections)
    abstract = f"<Abstract>{parts}</Abstract>" if sections else ""
    return (f'<PubmedArticle><MedlineCitation><PMID Version="1">{pmid}</PMID><Article><ArticleTitle>Title {pmid}.</ArticleTitle>'
            f"{abstract}</Article></MedlineCitation><PubmedData/></PubmedArticle>")


def baseline_file(path: Path, *children: str) -> Path:
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n' + "\n".join(children) + "\n</PubmedArticleSet>\n"
    path.write_bytes(gzip.compress(xml.encode("utf8")))
    return path


def manifest(folder: Path) -> List[Dict]:
    return [json.loads(line) for line in (folder / MANIFEST).read_text(encoding="utf8").splitlines()]


def ids(folder: Path) -> List[str]:
    return sorted(row["id"] for path in folder.glob("*.parquet") for row in read_parquet_rows(path))


@Language.factory("crash_once_test", default_config={"marker": ""})
def make_crash_once(nlp: Language, name: str, marker: str):
    def crash_once(doc: Doc) -> Doc:
        """The worker dies (no exception, no cleanup) at the first doc holding CRASH, once."""
        if CRASH in doc.text and not Path(marker).exists():
            Path(marker).touch()
            os._exit(1)
        return doc

    return crash_once


@Language.component("distributed_test_fails_on_boom")
def fails_on_boom(doc: Doc) -> Doc:
    """A record that really makes the pipeline raise."""
    if "BOOM" in doc.text:
        raise ValueError("this record makes the pipeline raise")
    return doc


@Language.factory("distributed_test_slow", default_config={"seconds": 0.0})
def make_slow(nlp: Language, name: str, seconds: float):
    def slow(doc: Doc) -> Doc:
        time.sleep(seconds)
        return doc

    return slow


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")
    return path


@pytest.fixture(scope="module")
def cluster():
    """A local cluster with a CPU more than two actors take (actors holding every CPU can hang)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray runs its workers at nice 15: beside the other xdist worker's trainings they would get
    # almost no CPU and take minutes to start.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "baseline"
    folder.mkdir()
    baseline_file(
        folder / "pubmed25n0001.xml.gz",
        article("101", [("BACKGROUND", LINKED), ("RESULTS", UNLINKED)]),
        article("102", []),
        "<PubmedBookArticle><BookDocument><PMID>103</PMID></BookDocument></PubmedBookArticle>",
        article("104", [("", UNLINKED)]),
        '<DeleteCitation><PMID Version="1">9</PMID></DeleteCitation>',
    )
    baseline_file(folder / "pubmed25n0002.xml.gz", *(article(str(200 + n), [("", f"{LINKED} {n}")]) for n in range(5)))
    write_jsonl(folder / "extra.jsonl", [{"id": 3, "text": UNLINKED}, {"id": "x2", "text": CRASH}, {"id": "x3", "text": BOOM}])  # an integer id
    return folder


def test_parquet_rows_equal_jsonl_across_a_crash_a_resume_and_a_corrupt_file(cluster, inputs, nlp, tmp_path):
    from tests.conftest import run_script

    # records over the character and token limits (given as options: the actors are told them) are skipped on both paths
    with (inputs / "extra.jsonl").open("a", encoding="utf8") as handle:
        handle.write(json.dumps({"id": "x4", "text": "x " * 600}) + "\n" + json.dumps({"id": "x5", "text": "(" * 300}) + "\n")
    limits = {"max_chars": 1000, "max_tokens": 200}
    single = tmp_path / "single.jsonl"
    annotate(nlp, inputs, single, **limits)  # the test pipeline without crash_once_test, which changes nothing else
    expected = {row["id"]: row for row in map(json.loads, single.read_text(encoding="utf8").splitlines()) if row["id"] != "x3"}
    corrupt = inputs / "pubmed25n0003.xml.gz"
    corrupt.write_bytes(gzip.compress(b"<PubmedArticleSet><PubmedArticle>")[:-8])  # truncated download
    marker, model = tmp_path / "crashed", tmp_path / "model"
    crashing = TEST_PIPELINE.build_nlp()
    crashing.add_pipe("crash_once_test", config={"marker": str(marker)})
    crashing.add_pipe("distributed_test_fails_on_boom")  # x3 makes it raise: skipped and named, the rest of its file written
    crashing.to_disk(model)
    out = tmp_path / "out"
    summary = run(model, [inputs], out, actors=2, code=Path(__file__), batch_size=2, **limits)
    assert marker.exists()  # a worker died at the doc holding CRASH; Ray restarted it and retried the file
    assert (summary.files, summary.done, summary.failed, summary.annotated) == (4, 3, 1, 9)
    assert sorted(p.name for p in out.iterdir()) == ["extra.parquet", MANIFEST, "pubmed25n0001.parquet", "pubmed25n0002.parquet"]
    rows = {}
    for path in sorted(out.glob("*.parquet")):
        for row in read_parquet_rows(path):
            assert (row.pop("source_file"), row.pop("model"), row.pop("model_version")) == (
                path.name.replace(".parquet", ".jsonl" if path.stem == "extra" else ".xml.gz"), "en_pipeline", "0.0.0")
            rows[row["id"]] = row
    assert rows == expected and len(rows) == 9 and "3" in rows  # the integer id, as a string on both paths
    assert rows["101"]["text"] == f"Title 101.\nBACKGROUND: {LINKED}\nRESULTS: {UNLINKED}" and rows["101"]["links"][0]["score"] == 0.75
    entries = {Path(e["input"]).name: e for e in manifest(out)}
    first = entries["pubmed25n0001.xml.gz"]
    assert (first["status"], first["records"], first["annotated"], first["skipped"], first["deleted_pmids"]) == ("done", 4, 2, 2, ["9"])
    assert first["skip_reasons"] == {"no abstract, skipped": 1, "book article (PubmedBookArticle), skipped": 1}
    assert first["seconds"] > 0 and first["worker"] and first["error"] is None
    assert [(f["id"], f["reason"]) for f in entries["extra.jsonl"]["failed_records"]] == [
        ("x3", "the pipeline failed on it (ValueError: this record makes the pipeline raise)")]
    assert sorted(entries["extra.jsonl"]["skip_reasons"]) == [
        "text of 1200 characters is longer than the limit of 1000 (--max-chars, FGEN_MAX_RECORD_CHARS, nlp.max_length)",
        "text of 300 tokens is more than the limit of 200 (--max-tokens, FGEN_MAX_RECORD_TOKENS)",
        "the pipeline failed on it (ValueError: this record makes the pipeline raise)"]
    bad = entries["pubmed25n0003.xml.gz"]
    assert bad["status"] == "failed" and bad["output"] is None and "corrupt gzip data" in bad["error"]

    # a rerun (the CLI) does only what has no Parquet file: the lost file and the corrupt one
    (out / "pubmed25n0002.parquet").unlink()
    result = run_script("annotate_ray", model, str(inputs / "*.xml.gz"), inputs / "extra.jsonl", out, "--code", Path(__file__),
                        "--max-chars", 900, "--max-tokens", 150)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Annotating 2 files (2 done by an earlier run)" in result.stdout
    assert "[2/2]" in result.stdout and "pubmed25n0003.xml.gz: failed:" in result.stdout
    assert "Annotated 5 abstracts in 1 files" in result.stdout and "1 files failed" in result.stdout
    assert sorted(Path(e["input"]).name for e in manifest(out)[4:]) == ["pubmed25n0002.xml.gz", "pubmed25n0003.xml.gz"]
    assert [(e["max_chars"], e["max_tokens"]) for e in manifest(out)[4:] if e["status"] == "done"] == [(900, 150)]  # the actors applied them
    assert ids(out) == sorted(expected)  # nothing lost, nothing twice
    corrupt.unlink()
    assert run(model, [inputs], out).files == 3  # all done: Ray is not even asked


def test_actors_that_cannot_start_stop_the_run_with_one_line(cluster, inputs, tmp_path):
    broken = tmp_path / "broken"
    spacy.blank("en").to_disk(broken)
    config = (broken / "config.cfg").read_text()
    (broken / "config.cfg").write_text(config.replace("pipeline = []", 'pipeline = ["nope"]') + '[components.nope]\nfactory = "no_such_factory"\n')
    with pytest.raises(AnnotateError, match=f"the actors cannot start: .*PipelineLoadError: {broken}: cannot load the pipeline"):
        run(broken, [inputs / "extra.jsonl"], tmp_path / "out", retries=0)
    with pytest.raises(AnnotateError, match="--gpus-per-actor 1: the cluster has 0 GPUs in all"):
        run(broken, [inputs / "extra.jsonl"], tmp_path / "out", gpus_per_actor=1)  # instead of waiting for a GPU forever
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_inputs_expand_and_name_their_outputs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (tmp_path / "a" / "pubmed25n0001.xml.gz", tmp_path / "a" / "notes.md", tmp_path / "b" / "pubmed25n0001.xml"):
        path.write_text("x")
    assert output_name(Path("pubmed25n0001.xml.gz")) == "pubmed25n0001.parquet" and output_name(Path("x.jsonl")) == "x.parquet"
    assert expand_inputs([tmp_path / "a"], tmp_path / "out") == [(tmp_path / "a" / "pubmed25n0001.xml.gz").resolve()]
    with pytest.raises(AnnotateError, match="would write pubmed25n0001.parquet"):
        expand_inputs([tmp_path / "a", str(tmp_path / "b" / "*.xml")], tmp_path / "out")
    with pytest.raises(AnnotateError, match="no file matches it"):
        expand_inputs([str(tmp_path / "c" / "*.xml.gz")], tmp_path / "out")


@pytest.mark.parametrize("fmt", FORMATS)
def test_annotate_file_without_ray_writes_nothing_for_a_broken_file(tmp_path, nlp, fmt):
    # its record is read and annotated before the end of the file turns out corrupt
    broken = baseline_file(tmp_path / "broken.xml.gz", article("1", [("", LINKED)]))
    broken.write_bytes(broken.read_bytes()[:-20])
    out = tmp_path / "out"
    entry = annotate_file(nlp, broken, out, fmt=fmt)
    assert (entry["status"], entry["output"]) == ("failed", None) and "corrupt gzip data" in entry["error"]
    assert not out.exists() or list(out.iterdir()) == []  # no output, no sidecar, no temporary


def test_success_markers_for_object_storage(tmp_path, nlp):
    source = baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]))
    out = tmp_path / "out"
    annotate_file(nlp, source, out)
    assert is_done(out, source) and not is_done(out, source, markers=True)  # a Parquet file alone may be half-copied
    entry = annotate_file(nlp, source, out, markers=True)
    assert entry["status"] == "done" and is_done(out, source, markers=True)
    assert sorted(p.name for p in out.iterdir()) == ["pubmed25n0001.parquet", "pubmed25n0001.parquet._SUCCESS"]
    annotate_file(nlp, source, out, markers=True, fmt="pubtator")  # the marker last, after the sidecar
    assert is_done(out, source, markers=True, fmt="pubtator")
    (out / "pubmed25n0001.pubtator._SUCCESS").unlink()
    assert is_done(out, source, fmt="pubtator") and not is_done(out, source, markers=True, fmt="pubtator")


# ---------------------------------------------------------------- records, ids, durability (no Ray)


def test_a_record_the_pipeline_fails_on_is_skipped_and_named_the_rest_written(tmp_path, model_dir):
    nlp = spacy.load(model_dir)
    nlp.add_pipe("distributed_test_fails_on_boom")
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}, {"id": "b", "text": BOOM}, {"id": "c", "text": UNLINKED}])
    entry = annotate_file(nlp, source, tmp_path / "out", batch_size=8)
    assert (entry["status"], entry["records"], entry["annotated"], entry["skipped"]) == ("done", 3, 2, 1)
    reason = "the pipeline failed on it (ValueError: this record makes the pipeline raise)"
    assert entry["failed_records"] == [{"id": "b", "position": f"{source}:2", "reason": reason}]
    assert entry["problems"] == [f"{source}:2: {reason}"]
    assert [row["id"] for row in read_parquet_rows(tmp_path / "out" / "in.parquet")] == ["a", "c"]


def test_integer_ids_are_strings_and_a_repeat_as_string_is_a_duplicate(tmp_path, nlp):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 7, "text": LINKED}, {"id": "7", "text": UNLINKED}, {"id": 8, "text": UNLINKED}])
    entry = annotate_file(nlp, source, tmp_path)
    assert entry["status"] == "done" and entry["problems"] == [f"{source}:2: duplicate id '7'"]
    assert [row["id"] for row in read_parquet_rows(tmp_path / "in.parquet")] == ["7", "8"]


def test_a_file_carries_its_manifest_line_and_done_means_a_complete_footer(tmp_path, nlp, model_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = baseline_file(
        tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]), article("2", []), '<DeleteCitation><PMID Version="1">9</PMID></DeleteCitation>')
    out = tmp_path / "out"
    entry = annotate_file(nlp, source, out)
    output = out / "pubmed25n0001.parquet"
    assert json.loads(pq.read_metadata(output).metadata[MANIFEST_KEY.encode()]) == entry == done_entry(out, source)
    assert (entry["deleted_pmids"], entry["skip_reasons"], entry["annotated"]) == (["9"], {"no abstract, skipped": 1}, 1)
    # a folder model's real name, version and path
    assert (entry["model"], entry["model_version"], entry["model_path"]) == ("en_pipeline", "0.0.0", str(model_dir.resolve()))
    data = output.read_bytes()
    output.write_bytes(data[: len(data) // 2])  # truncated: exists, but is not done
    assert not is_done(out, source)
    pq.write_table(pa.table({"id": ["1"]}), output)  # readable, but no recorded line (an older fgen, another tool)
    assert not is_done(out, source)
    output.write_bytes(data.replace(b'"annotated": 1', b'"annotated": 2'))  # a footer whose rows do not match its line
    assert not is_done(out, source)
    output.write_bytes(data)
    assert is_done(out, source)


def test_manifest_rebuilt_from_outputs_after_a_driver_died_before_appending(tmp_path, nlp):
    first = baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]), '<DeleteCitation><PMID Version="1">9</PMID></DeleteCitation>')
    second = baseline_file(tmp_path / "pubmed25n0002.xml.gz", article("2", [("", UNLINKED)]))
    out = tmp_path / "out"
    recorded = annotate_file(nlp, first, out)
    (out / MANIFEST).write_text(json.dumps(recorded) + "\n", encoding="utf8")  # the driver appended this one
    lost = annotate_file(nlp, second, out)  # the worker renamed this one; the driver was killed before its line
    assert rebuild_manifest(out, [first, second]) == [{**lost, "rebuilt": True}]
    assert [line.get("rebuilt") for line in manifest(out)] == [None, True] and manifest(out)[1]["attempt"] == lost["attempt"]
    assert rebuild_manifest(out, [first, second]) == []  # once
    with (out / MANIFEST).open("ab") as handle:
        handle.write(b'{"input": "torn by a crash')
    (out / "pubmed25n0002.parquet").unlink()
    annotate_file(nlp, second, out)
    assert len(rebuild_manifest(out, [first, second])) == 1  # after the torn line, on a line of its own
    lines = (out / MANIFEST).read_text(encoding="utf8").splitlines()
    assert len(lines) == 4 and lines[2] == '{"input": "torn by a crash' and json.loads(lines[3])["rebuilt"]


def test_ids_in_several_files_are_reported_and_the_later_file_wins(tmp_path, nlp):
    files = [
        baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]), article("2", [("", LINKED)])),
        baseline_file(tmp_path / "pubmed25n0002.xml.gz", article("3", [("", LINKED)])),
        baseline_file(tmp_path / "pubmed25n0003.xml.gz", article("2", [("", UNLINKED)]), article("1", [("", UNLINKED)])),
    ]
    out = tmp_path / "out"
    for path in files[:2]:
        annotate_file(nlp, path, out)
    assert report_duplicates(out, files) == 0 and not (out / DUPLICATES).exists()
    annotate_file(nlp, files[2], out)
    assert report_duplicates(out, files) == 2
    lines = [json.loads(line) for line in (out / DUPLICATES).read_text(encoding="utf8").splitlines()]
    names = ["pubmed25n0001.parquet", "pubmed25n0003.parquet"]
    assert sorted(lines, key=lambda line: line["id"]) == [{"id": i, "files": names, "kept": names[-1]} for i in ("1", "2")]


def test_output_dir_that_is_a_file_or_cannot_rename_is_refused_before_ray(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}])
    existing = tmp_path / "out.txt"
    existing.write_text("x")
    with pytest.raises(AnnotateError, match="out.txt: exists and is not a folder"):
        run(tmp_path / "no-model", [source], existing)

    def no_rename(src, dst):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(AnnotateError, match=r"out: the file system cannot rename files \(Function not implemented\)"):
        run(tmp_path / "no-model", [source], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------- BioC and PubTator: done by a sidecar


@pytest.mark.parametrize("fmt", ["bioc-xml", "bioc-json", "pubtator"])
def test_other_formats_equal_annotates_and_are_done_only_with_a_matching_sidecar(tmp_path, nlp, fmt):
    source = baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("BACKGROUND", LINKED), ("RESULTS", UNLINKED)]),
                           article("2", [("", UNLINKED)]), '<DeleteCitation><PMID Version="1">9</PMID></DeleteCitation>')
    out = tmp_path / "out"
    entry = annotate_file(nlp, source, out, fmt=fmt)
    output = out / output_name(source, fmt)
    sidecar = output.with_name(output.name + SIDECAR_SUFFIX)
    assert sorted(p.name for p in out.iterdir()) == [output.name, sidecar.name]
    assert (entry["status"], entry["annotated"], entry["deleted_pmids"], entry["output"]) == ("done", 2, ["9"], str(output))
    single = tmp_path / f"single{output.suffix}"
    annotate(nlp, source, single, fmt)  # the single-machine writer: the same file, passages and offsets included
    assert output.read_bytes() == single.read_bytes()
    assert done_entry(out, source, fmt=fmt) == entry and output_ids(output, fmt) == ["1", "2"]
    assert not is_done(out, source)  # not as Parquet
    data = output.read_bytes()
    for broken in (data[: len(data) // 2], data[:10] + bytes([data[10] ^ 1]) + data[11:]):  # truncated (half-copied); the same size, other bytes
        output.write_bytes(broken)
        assert not is_done(out, source, fmt=fmt)
    output.write_bytes(data)
    assert is_done(out, source, fmt=fmt)
    # killed between the output's rename and the sidecar: not done, written again whole, its line rebuilt once
    sidecar.unlink()
    assert not is_done(out, source, fmt=fmt) and rebuild_manifest(out, [source], fmt=fmt) == []
    again = annotate_file(nlp, source, out, fmt=fmt)
    assert output.read_bytes() == data and rebuild_manifest(out, [source], fmt=fmt) == [{**again, "rebuilt": True}]
    assert rebuild_manifest(out, [source], fmt=fmt) == []
    sidecar.write_bytes(sidecar.read_bytes()[:-5])  # torn
    assert not is_done(out, source, fmt=fmt)
    # what interrupted writes leave of the output and the sidecar is removed by the next run
    temporaries = [out / f".{output.name}.abcd1234.tmp", out / f".{sidecar.name}.abcd_234.tmp"]
    for path in temporaries:
        path.write_bytes(b"x")
    assert sorted(remove_temporaries(out)) == sorted(temporaries)


def test_sidecar_ids_feed_the_duplicates_report(tmp_path, nlp):
    files = [baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]), article("2", [("", LINKED)])),
             baseline_file(tmp_path / "pubmed25n0002.xml.gz", article("2", [("", UNLINKED)]))]
    out = tmp_path / "out"
    for path in files:
        annotate_file(nlp, path, out, fmt="pubtator")
    assert report_duplicates(out, files, fmt="pubtator") == 1
    names = ["pubmed25n0001.pubtator", "pubmed25n0002.pubtator"]
    assert json.loads((out / DUPLICATES).read_text(encoding="utf8")) == {"id": "2", "files": names, "kept": names[-1]}


def test_bioc_on_ray_and_a_rerun_restores_the_manifest_from_the_sidecars(cluster, inputs, tmp_path):
    from tests.conftest import run_script

    model = tmp_path / "model"
    TEST_PIPELINE.build_nlp().to_disk(model)
    baseline_file(inputs / "pubmed25n0003.xml.gz", article("104", [("", LINKED)]))  # 104 again: a duplicate
    out = tmp_path / "out"
    summary = run(model, [str(inputs / "*.xml.gz")], out, code=Path(__file__), fmt="bioc-xml")
    assert (summary.done, summary.failed, summary.annotated, summary.duplicates) == (3, 0, 8, 1)
    names = [f"pubmed25n000{n}.xml" for n in (1, 2, 3)]
    assert sorted(p.name for p in out.iterdir()) == sorted([DUPLICATES, MANIFEST, *names, *(n + SIDECAR_SUFFIX for n in names)])
    with (out / names[0]).open(encoding="utf8") as handle:
        (first, second) = bioc.load(handle).documents
    assert (first.id, [p.infons["type"] for p in first.passages], second.id) == ("101", ["title", "abstract", "abstract"], "104")
    for passage in first.passages:  # each location slices its passage to the annotation's text
        for annotation in passage.annotations:
            (location,) = annotation.locations
            assert passage.text[location.offset - passage.offset :][: location.length] == annotation.text
    assert [len(r.nodes) for r in first.relations] == [4]
    (out / MANIFEST).unlink()  # as if the driver died before its appends: the CLI restores them, Ray not asked
    result = run_script("annotate_ray", model, str(inputs / "*.xml.gz"), out, "--format", "bioc-xml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Annotating 0 files (3 done by an earlier run)" in result.stdout and "3 files finished by an earlier run" in result.stdout
    assert sorted(Path(e["input"]).name for e in manifest(out) if e["rebuilt"]) == ["pubmed25n0001.xml.gz", "pubmed25n0002.xml.gz", "pubmed25n0003.xml.gz"]


# ---------------------------------------------------------------- interrupting the driver


def slow_model(folder: Path, seconds: float) -> Path:
    nlp = TEST_PIPELINE.build_nlp()
    nlp.add_pipe("distributed_test_slow", config={"seconds": seconds})
    nlp.to_disk(folder)
    return folder


def jsonl_inputs(folder: Path, files: int, per_file: int) -> Dict[str, int]:
    """`files` JSONL inputs of `per_file` records each; RETURNS every id, with 0."""
    folder.mkdir()
    ids = {}
    for f in range(files):
        rows = [{"id": f"{f}-{n}", "text": LINKED if n % 2 else UNLINKED} for n in range(per_file)]
        write_jsonl(folder / f"part{f}.jsonl", rows)
        ids.update((row["id"], 0) for row in rows)
    return ids


def assert_exactly_once(out: Path, expected: Dict[str, int]) -> None:
    assert ids(out) == sorted(expected)  # every abstract, none twice
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    done = [e for e in manifest(out) if e["status"] == "done"]
    assert sorted(Path(e["input"]).name for e in done) == sorted(f"part{n}.jsonl" for n in range(len(list(out.glob("*.parquet")))))


def test_interrupted_run_records_what_finished_and_the_rerun_does_the_rest(cluster, tmp_path):
    # In-process and fast: the interrupt arrives where the driver waits for the next file.
    model = slow_model(tmp_path / "model", 0.2)
    expected = jsonl_inputs(tmp_path / "in", files=4, per_file=3)
    out = tmp_path / "out"

    def interrupt(entry: Dict) -> None:
        raise KeyboardInterrupt()

    with pytest.raises(Interrupted) as stopped:
        run(model, [tmp_path / "in"], out, code=Path(__file__), on_file=interrupt)
    assert stopped.value.signal == "SIGINT" and stopped.value.summary.done >= 1 and stopped.value.left <= 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert {e["status"] for e in manifest(out)} == {"done"}
    summary = run(model, [tmp_path / "in"], out, code=Path(__file__))
    assert summary.failed == 0 and summary.done + summary.already_done == 4 and summary.duplicates == 0
    assert_exactly_once(out, expected)


def descendants(pid: int) -> List[int]:
    """The processes below `pid` (from /proc: no psutil here)."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt_cli(model: Path, inputs: Path, out: Path, sig: int, after_lines: int, within: float = 30) -> subprocess.CompletedProcess:
    """scripts/annotate_ray.py on a local cluster of its own, sent `sig` once the manifest has
    `after_lines` lines; RETURNS the finished process, after checking that no process it started
    outlives it by more than `within` seconds."""
    env = {**os.environ, "RAY_worker_niceness": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    script = Path(__file__).resolve().parents[2] / "scripts" / "annotate_ray.py"
    process = subprocess.Popen(
        [sys.executable, str(script), str(model), str(inputs), str(out), "--code", __file__],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if (out / MANIFEST).exists() and len((out / MANIFEST).read_text().splitlines()) >= after_lines:
            break
        time.sleep(0.2)
    started = descendants(process.pid)  # the local cluster: gcs_server, raylet, agents, workers
    process.send_signal(sig)
    stdout, _ = process.communicate(timeout=120)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and [p for p in started if alive(p)]:
        time.sleep(0.5)
    assert not [p for p in started if alive(p)], stdout
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, "")


@pytest.mark.slow
def test_sigint_and_sigterm_to_the_driver_then_rerun_gives_every_abstract_once(tmp_path):
    model = slow_model(tmp_path / "model", 0.3)
    expected = jsonl_inputs(tmp_path / "in", files=6, per_file=4)
    out = tmp_path / "out"
    for sig, code, name, lines in ((signal.SIGINT, 130, "SIGINT", 1), (signal.SIGTERM, 143, "SIGTERM", 3)):
        result = interrupt_cli(model, tmp_path / "in", out, sig, lines)
        assert result.returncode == code, result.stdout
        assert f"Interrupted by {name}: " in result.stdout and "Traceback" not in result.stdout, result.stdout
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    from tests.conftest import run_script

    result = run_script("annotate_ray", model, tmp_path / "in", out, "--code", Path(__file__))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exactly_once(out, expected)


@pytest.mark.slow
def test_a_sigkilled_driver_leaves_no_local_ray_process_and_the_rerun_does_the_rest(tmp_path):
    # Ray's agents alone would wait on the dead GCS for about a minute; the watchdog kills them at once
    model = slow_model(tmp_path / "model", 0.3)
    expected = jsonl_inputs(tmp_path / "in", files=4, per_file=4)
    out = tmp_path / "out"
    result = interrupt_cli(model, tmp_path / "in", out, signal.SIGKILL, 1, within=10)
    assert result.returncode == -signal.SIGKILL, result.stdout
    from tests.conftest import run_script

    result = run_script("annotate_ray", model, tmp_path / "in", out, "--code", Path(__file__))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exactly_once(out, expected)
