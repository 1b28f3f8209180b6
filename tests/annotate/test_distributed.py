"""fgen.annotate.distributed and scripts/annotate_ray.py on a local Ray cluster started once for this
module: Parquet rows equal to the single-machine annotate's JSONL across a worker that dies
mid-file, a resume and a corrupt input; gzipped and structured PubMed input.

Ray workers are fresh processes: they get the test components by importing this file (`code`,
as `--code`), which imports test_annotate.py's by its path, not from the tests package. Every
Ray run starts actors (seconds each), so one run checks several things.
"""
import gzip
import json
import os
from pathlib import Path
from typing import Dict, List

import pytest
import ray
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import import_file

import fgen  # noqa: F401  registers the Doc and Span extensions
from fgen.annotate.distributed import MANIFEST, annotate_file, expand_inputs, is_done, output_name, run
from fgen.annotate.inputs import AnnotateError
from fgen.annotate.parquet import read_parquet_rows
from fgen.annotate.run_loop import annotate

pytestmark = pytest.mark.xdist_group("ray")  # one worker runs them all: one cluster

# The test pipeline (an entity_ruler plus `annotate_test_fgen`), also in the Ray workers.
TEST_PIPELINE = import_file("fgen_test_annotate_pipeline", Path(__file__).with_name("test_annotate.py"))
LINKED = "Knockdown of ATG12 inhibits tumorigenesis in UM cells."
UNLINKED = "Overexpression of ZNNT1 promotes autophagy."
CRASH = "CRASH here"


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
    (folder / "extra.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in (("x1", UNLINKED), ("x2", CRASH))), encoding="utf8")
    return folder


def test_parquet_rows_equal_jsonl_across_a_crash_a_resume_and_a_corrupt_file(cluster, inputs, nlp, tmp_path):
    from tests.conftest import run_script

    single = tmp_path / "single.jsonl"
    annotate(nlp, inputs, single)  # the test pipeline without crash_once_test, which changes nothing else
    expected = {row["id"]: row for row in map(json.loads, single.read_text(encoding="utf8").splitlines())}
    corrupt = inputs / "pubmed25n0003.xml.gz"
    corrupt.write_bytes(gzip.compress(b"<PubmedArticleSet><PubmedArticle>")[:-8])  # truncated download
    marker, model = tmp_path / "crashed", tmp_path / "model"
    crashing = TEST_PIPELINE.build_nlp()
    crashing.add_pipe("crash_once_test", config={"marker": str(marker)})
    crashing.to_disk(model)
    out = tmp_path / "out"
    summary = run(model, [inputs], out, actors=2, code=Path(__file__), batch_size=2)
    assert marker.exists()  # a worker died at the doc holding CRASH; Ray restarted it and retried the file
    assert (summary.files, summary.done, summary.failed, summary.annotated) == (4, 3, 1, 9)
    assert sorted(p.name for p in out.iterdir()) == ["extra.parquet", MANIFEST, "pubmed25n0001.parquet", "pubmed25n0002.parquet"]
    rows = {}
    for path in sorted(out.glob("*.parquet")):
        for row in read_parquet_rows(path):
            assert (row.pop("source_file"), row.pop("model"), row.pop("model_version")) == (
                path.name.replace(".parquet", ".jsonl" if path.stem == "extra" else ".xml.gz"), "en_pipeline", "0.0.0")
            rows[row["id"]] = row
    assert rows == expected and len(rows) == 9
    assert rows["101"]["text"] == f"Title 101.\nBACKGROUND: {LINKED}\nRESULTS: {UNLINKED}" and rows["101"]["links"][0]["score"] == 0.75
    entries = {Path(e["input"]).name: e for e in manifest(out)}
    first = entries["pubmed25n0001.xml.gz"]
    assert (first["status"], first["records"], first["annotated"], first["skipped"], first["deleted_pmids"]) == ("done", 4, 2, 2, ["9"])
    assert first["skip_reasons"] == {"no abstract, skipped": 1, "book article (PubmedBookArticle), skipped": 1}
    assert first["seconds"] > 0 and first["worker"] and first["error"] is None
    bad = entries["pubmed25n0003.xml.gz"]
    assert bad["status"] == "failed" and bad["output"] is None and "corrupt gzip data" in bad["error"]

    # a rerun (the CLI) does only what has no Parquet file: the lost file and the corrupt one
    (out / "pubmed25n0002.parquet").unlink()
    result = run_script("annotate_ray", model, str(inputs / "*.xml.gz"), inputs / "extra.jsonl", out, "--code", Path(__file__))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Annotating 2 files (2 done by an earlier run)" in result.stdout
    assert "[2/2]" in result.stdout and "pubmed25n0003.xml.gz: failed:" in result.stdout
    assert "Annotated 5 abstracts in 1 files" in result.stdout and "1 files failed" in result.stdout
    assert sorted(Path(e["input"]).name for e in manifest(out)[4:]) == ["pubmed25n0002.xml.gz", "pubmed25n0003.xml.gz"]
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


def test_annotate_file_without_ray_writes_nothing_for_a_broken_file(tmp_path, nlp):
    broken = baseline_file(tmp_path / "broken.xml.gz", article("1", [("", LINKED)]))
    broken.write_bytes(broken.read_bytes()[:-20])
    entry = annotate_file(nlp, broken, tmp_path)
    assert (entry["status"], entry["output"]) == ("failed", None) and "corrupt gzip data" in entry["error"]
    assert not list(tmp_path.glob("*.parquet"))


def test_success_markers_for_object_storage(tmp_path, nlp):
    source = baseline_file(tmp_path / "pubmed25n0001.xml.gz", article("1", [("", LINKED)]))
    out = tmp_path / "out"
    annotate_file(nlp, source, out)
    assert is_done(out, source) and not is_done(out, source, markers=True)  # a Parquet file alone may be half-copied
    entry = annotate_file(nlp, source, out, markers=True)
    assert entry["status"] == "done" and is_done(out, source, markers=True)
    assert sorted(p.name for p in out.iterdir()) == ["pubmed25n0001.parquet", "pubmed25n0001.parquet._SUCCESS"]
