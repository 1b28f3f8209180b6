"""fgen.annotate.run_loop and scripts/annotate.py: readers with good and bad records, every output
format, the journal (interruption, resume, truncated entries), and one CLI run end to end (a real
process, which finds the test component only through --code; its failures run in this process).

The pipeline is built here: an entity_ruler plus `annotate_test_fgen`, which adds values,
confidences and one scored statement when all four categories occur. This module is imported by
the CLI test too (`--code`), so it must not use relative imports.
"""
import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

import fgen  # noqa: F401  registers the Doc and Span extensions
from fgen.annotate.inputs import AnnotateError, Problem, Record, input_files, read_records
from fgen.formats.jsonl import read_jsonl
from fgen.formats.readers import INPUT_SUFFIXES
from fgen.formats.text import read_txt
from fgen.annotate.loading import PipelineLoadError, load_pipeline
from fgen.annotate.run_loop import annotate
from fgen.annotate.journal import input_source, journal_header, journal_line, journal_path, model_source, recover_journal
from fgen.annotate.outputs import output_format, resolve_scheme
from fgen.formats.html import doc_to_html
from fgen.formats.mae_doc import safe_file_name
from fgen.doc_layout import SPAN_KEY, set_links
from fgen.formats.mae import read_mae

REPO = Path(__file__).resolve().parents[2]
ROLES = ("PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE")
# Surface form (lower case) -> (category, value); the values are in conftest's V2 lists.
LEXICON = {
    "knockdown of atg12": ("PERTURBING_ACTION", "rnai/knockdown"),
    "overexpression of znnt1": ("PERTURBING_ACTION", "gene gain-of-function"),
    "um cells": ("CONTEXT", "transformed cells"),
    "inhibits": ("EFFECT", "negative"),
    "promotes": ("EFFECT", "positive"),
    "tumorigenesis": ("PHENOTYPE", "tumourigenesis"),
    "autophagy": ("PHENOTYPE", "autophagy"),
}
LINKED = "Knockdown of ATG12 inhibits tumorigenesis in UM cells."
UNLINKED = "Overexpression of ZNNT1 promotes autophagy."
PLAIN = "Nothing to see here."
LINK_SCORE = 0.75


@Language.component("annotate_test_fgen", assigns=["doc.ents", "doc.spans"])
def annotate_test_fgen(doc: Doc) -> Doc:
    """Values, confidences and one statement (score 0.75) when all four categories occur."""
    spans = [doc.char_span(e.start_char, e.end_char, label=e.label_, kb_id=LEXICON[e.text.lower()][1]) for e in doc.ents]
    doc.ents = spans
    doc.spans[SPAN_KEY] = spans
    for span in spans:
        span._.confidence = round(0.5 + len(span.text) / 100, 4)
        span._.value_confidence = 0.8
    first = {}
    for span in spans:
        first.setdefault(span.label_, span)
    if all(role in first for role in ROLES):
        set_links(doc, [{role: first[role] for role in ROLES}], [LINK_SCORE])
    return doc


def build_nlp() -> Language:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": label, "pattern": text} for text, (label, _) in LEXICON.items()])
    nlp.add_pipe("annotate_test_fgen")
    return nlp


def items(iterator) -> Tuple[List[Record], List[str]]:
    got = list(iterator)
    return [i for i in got if isinstance(i, Record)], [str(i) for i in got if isinstance(i, Problem)]


def write_jsonl_input(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf8")
    return path


def read_output(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def pubmed(*articles: str, doctype: bool = True) -> str:
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    if doctype:
        head += ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" '
                 '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">\n')
    return head + "<PubmedArticleSet>\n" + "\n".join(articles) + "\n</PubmedArticleSet>\n"


def article(pmid: str = "", title: str = "", abstract: List[str] = ()) -> str:
    pmid_el = f'<PMID Version="1">{pmid}</PMID>' if pmid else ""
    parts = "".join(f'<AbstractText Label="P{i}">{a}</AbstractText>' for i, a in enumerate(abstract))
    abstract_el = f"<Abstract>{parts}</Abstract>" if abstract else ""
    return (f"<PubmedArticle><MedlineCitation>{pmid_el}<Article><ArticleTitle>{title}</ArticleTitle>"
            f"{abstract_el}</Article></MedlineCitation><PubmedData/></PubmedArticle>")


# ---------------------------------------------------------------- readers


def test_read_txt_lines_and_whole_file(tmp_path):
    path = tmp_path / "abs.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst abstract.\r\n\n   \nSecond \xff abstract.\nThird abstract.")
    records, problems = items(read_txt(path))
    assert [(r.id, r.text, r.position) for r in records] == [
        ("abs:1", "First abstract.", f"{path}:1"),
        ("abs:5", "Third abstract.", f"{path}:5"),
    ]
    assert problems == [f"{path}:4: not UTF-8 (byte 7)"]  # blank lines 2 and 3 are skipped silently
    path.write_text("One\nwhole\nfile.\n", encoding="utf8")
    records, problems = items(read_txt(path, whole_file=True))
    assert [(r.id, r.text) for r in records] == [("abs", "One\nwhole\nfile.\n")] and problems == []
    path.write_text(" \n\n", encoding="utf8")
    assert items(read_txt(path, whole_file=True)) == ([], [f"{path}: empty text"])


def test_read_jsonl_good_and_bad_records(tmp_path):
    path = write_jsonl_input(tmp_path / "in.jsonl", [
        {"id": "a", "text": LINKED},
        "{not json",
        "",
        ["a", "list"],
        {"id": "b"},
        {"id": "c", "text": 3},
        {"id": "d", "text": "  \n"},
        {"id": 7, "text": "Integer id."},
        {"text": "No id."},
        {"id": ["x"], "text": "List id."},
        {"id": "e", "text": "Unicode \u2028 separator stays inside."},
    ])
    records, problems = items(read_jsonl(path))
    assert [(r.id, r.position) for r in records] == [("a", f"{path}:1"), ("7", f"{path}:8"), ("in:9", f"{path}:9"), ("e", f"{path}:11")]
    assert records[-1].text == "Unicode \u2028 separator stays inside."
    assert problems == [
        f"{path}:2: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:4: not a JSON object but list",
        f'{path}:5: no string "text"',
        f'{path}:6: "text" is a int, not a string',
        f"{path}:7: empty text",
        f'{path}:10: "id" must be a string or an integer, not ["x"]',
    ]


def test_folder_input_sorted_recursive_with_duplicates(tmp_path):
    folder = tmp_path / "in"
    (folder / "b" / "deeper").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    (folder / "a.txt").write_text(f"{LINKED}\n{PLAIN}\n")
    write_jsonl_input(folder / "b" / "c.jsonl", [{"id": "x", "text": UNLINKED}, {"id": "a:1", "text": "Same id as a line of a.txt."}])
    (folder / "b" / "deeper" / "d.xml").write_text(pubmed(article("99", "A title", ["An abstract."])))
    (folder / "b" / "notes.md").write_text("not an input")
    (folder / ".hidden" / "e.txt").write_text("hidden")
    (folder / "out.partial.jsonl").write_text("")
    (folder / "out").mkdir()
    (folder / "out" / "x.xml").write_text("an earlier MAE output inside the input folder")
    files = input_files(folder, exclude=[folder / "out.partial.jsonl", folder / "out"])
    assert [p.relative_to(folder).as_posix() for p in files] == ["a.txt", "b/c.jsonl", "b/deeper/d.xml", "b/notes.md"]
    records, problems = items(read_records(files))
    assert [r.id for r in records] == ["a:1", "a:2", "x", "99"]
    assert problems == [
        f"{folder / 'b' / 'c.jsonl'}:2: duplicate id 'a:1' (first at {folder / 'a.txt'}:1)",
        f"{folder / 'b' / 'notes.md'}: skipped: not a {', '.join(INPUT_SUFFIXES)} file",
    ]


def test_unusable_inputs_and_outputs(tmp_path):
    with pytest.raises(AnnotateError, match="missing.txt: no such file or folder"):
        input_files(tmp_path / "missing.txt")
    (tmp_path / "in.csv").write_text("x")
    with pytest.raises(AnnotateError, match=re.escape(f"in.csv: unsupported input (expected {', '.join(INPUT_SUFFIXES)} or a folder)")):
        input_files(tmp_path / "in.csv")
    assert [output_format(tmp_path / n) for n in ("o.jsonl", "o.HTML", "o.spacy", "mae_out")] == ["jsonl", "html", "spacy", "mae"]
    assert output_format(tmp_path / "o.txt", "jsonl") == "jsonl"
    with pytest.raises(AnnotateError, match="unsupported output suffix '.txt'"):
        output_format(tmp_path / "o.txt")
    with pytest.raises(AnnotateError, match="is a folder, not a jsonl file"):
        output_format(tmp_path, "jsonl")
    assert safe_file_name("a/b:1", set()) == "a_b_1.xml"
    taken = {"a_b.xml"}
    assert safe_file_name("a:b", taken) == "a_b-2.xml" and safe_file_name("../x", taken) == "_x.xml"


# ---------------------------------------------------------------- outputs


@pytest.fixture
def jsonl_input(tmp_path) -> Path:
    return write_jsonl_input(tmp_path / "in.jsonl", [
        {"id": "linked", "text": LINKED},
        {"id": "bad"},
        {"id": "unlinked", "text": UNLINKED},
        {"id": "linked", "text": "A duplicate id."},
        {"id": "plain", "text": PLAIN},
    ])


def test_jsonl_output(nlp, jsonl_input, tmp_path):
    out = tmp_path / "out" / "annotated.jsonl"
    problems = []
    summary = annotate(nlp, jsonl_input, out, on_problem=lambda p: problems.append(str(p)))
    assert (summary.annotated, summary.resumed, summary.skipped, summary.written, summary.fmt) == (3, 0, 2, 3, "jsonl")
    assert problems == [f'{jsonl_input}:2: no string "text"', f"{jsonl_input}:4: duplicate id 'linked' (first at {jsonl_input}:1)"]
    assert not journal_path(out).exists() and sorted(p.name for p in out.parent.iterdir()) == ["annotated.jsonl"]
    linked, unlinked, plain = read_output(out)
    assert [linked["id"], unlinked["id"], plain["id"]] == ["linked", "unlinked", "plain"]
    assert linked["text"] == LINKED
    expected = [("Knockdown of ATG12", "PERTURBING_ACTION", "rnai/knockdown"), ("inhibits", "EFFECT", "negative"),
                ("tumorigenesis", "PHENOTYPE", "tumourigenesis"), ("UM cells", "CONTEXT", "transformed cells")]
    assert [(e["text"], e["label"], e["value"]) for e in linked["entities"]] == expected
    for ent in linked["entities"]:
        assert LINKED[ent["start"] : ent["end"]] == ent["text"]
        assert ent["confidence"] == pytest.approx(0.5 + len(ent["text"]) / 100) and ent["value_confidence"] == pytest.approx(0.8)
    assert linked["entities"][0]["start"] == 0 and linked["entities"][0]["end"] == 18
    assert linked["links"] == [{"members": {"PERTURBING_ACTION": 0, "CONTEXT": 3, "EFFECT": 1, "PHENOTYPE": 2}, "score": LINK_SCORE}]
    assert len(unlinked["entities"]) == 3 and unlinked["links"] == []
    assert plain == {"id": "plain", "text": PLAIN, "entities": [], "links": []}


def test_spacy_output_keeps_links_confidences_and_ids(nlp, jsonl_input, tmp_path):
    out = tmp_path / "annotated.spacy"
    annotate(nlp, jsonl_input, out)
    docs = list(DocBin().from_disk(out).get_docs(Vocab()))  # a fresh vocab: the strings travel with the docs
    assert [d._.provenance["id"] for d in docs] == ["linked", "unlinked", "plain"]
    linked = docs[0]
    assert [(s.text, s.kb_id_) for s in linked.spans[SPAN_KEY]][0] == ("Knockdown of ATG12", "rnai/knockdown")
    assert [e.label_ for e in linked.ents] == ["PERTURBING_ACTION", "EFFECT", "PHENOTYPE", "CONTEXT"]
    assert linked.ents[0]._.confidence == pytest.approx(0.68) and linked.ents[0]._.value_confidence == pytest.approx(0.8)
    assert {r: s.text for r, s in linked._.links[0].items()} == {
        "PERTURBING_ACTION": "Knockdown of ATG12", "CONTEXT": "UM cells", "EFFECT": "inhibits", "PHENOTYPE": "tumorigenesis"}
    assert linked._.link_scores == [LINK_SCORE]


def test_mae_output_is_readable_by_fgen_mae(nlp, jsonl_input, tmp_path, v2_scheme):
    out = tmp_path / "mae_out"
    out.mkdir()
    summary = annotate(nlp, jsonl_input, out, scheme=v2_scheme)
    assert summary.fmt == "mae" and sorted(p.name for p in out.iterdir()) == [".fgen-output.json", "linked.xml", "plain.xml", "unlinked.xml"]
    record = read_mae(out / "linked.xml", v2_scheme)
    assert record.text == LINKED
    by_id = {e.id: e for e in record.entities}
    assert sorted((e.label, record.text[e.fragments[0][0] : e.fragments[0][1]], tuple(e.values.values())) for e in record.entities) == [
        ("CONTEXT", "UM cells", ("transformed cells",)), ("EFFECT", "inhibits", ("negative",)),
        ("PERTURBING_ACTION", "Knockdown of ATG12", ("rnai/knockdown",)), ("PHENOTYPE", "tumorigenesis", ("tumourigenesis",))]
    assert len(record.links) == 1
    assert {role: by_id[eid].label for role, eid in record.links[0].members.items()} == {r: r for r in ROLES}
    assert read_mae(out / "plain.xml", v2_scheme).entities == []


def test_mae_output_needs_a_scheme_that_fits(nlp, jsonl_input, tmp_path, tiny_corpus, v1_scheme):
    assert resolve_scheme(None, definitions=tiny_corpus).name == "v2"
    assert resolve_scheme("v1", search_from=[tiny_corpus / "raw_data"]).name == "v1"
    with pytest.raises(AnnotateError, match="scheme v2: no definition files found"):
        resolve_scheme(None, search_from=[tmp_path / "nowhere"])
    with pytest.raises(AnnotateError, match="needs a scheme"):
        annotate(nlp, jsonl_input, tmp_path / "mae_out")
    # V1 has no PHENOTYPE: nothing is written, the annotated docs stay in the journal
    with pytest.raises(AnnotateError, match="linked: cannot be written as MAE with scheme v1"):
        annotate(nlp, jsonl_input, tmp_path / "mae_out", scheme=v1_scheme)
    assert not (tmp_path / "mae_out").exists() and journal_path(tmp_path / "mae_out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mae_out")]


def test_html_output_escapes(nlp, tmp_path):
    source = write_jsonl_input(tmp_path / "in.jsonl", [
        {"id": "<b>linked</b>", "text": LINKED + " But 1 < 2 & <script>alert(1)</script>."},
        {"id": "plain", "text": PLAIN},
    ])
    out = tmp_path / "view.html"
    assert annotate(nlp, source, out).written == 2
    page = out.read_text(encoding="utf8")
    assert page.lstrip().startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>") and '<meta charset="utf-8">' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "1 &lt; 2 &amp;" in page
    assert "<h2>&lt;b&gt;linked&lt;/b&gt;</h2>" in page and "<h2>plain</h2>" in page
    assert page.count('<mark class="entity"') == 4 and "rnai/knockdown" in page
    assert "PERTURBING_ACTION: <b>Knockdown of ATG12</b> <i>[rnai/knockdown]</i>" in page and "(score 0.75)" in page
    assert "No statements." in page


def test_html_of_overlapping_spans_uses_the_span_style(nlp):
    doc = nlp(UNLINKED)
    doc.spans[SPAN_KEY] = [*doc.spans[SPAN_KEY], doc.char_span(0, 32, label="EFFECT", kb_id="positive")]
    markup = doc_to_html(doc, "v1")
    assert "spans" in markup and markup.count("EFFECT") >= 2 and '<mark class="entity"' not in markup


# ---------------------------------------------------------------- journal, resume, edge cases


def test_interrupted_run_resumes_without_loss_or_duplicates(nlp, tmp_path):
    texts = [LINKED, UNLINKED, PLAIN, LINKED.upper(), UNLINKED.lower()]
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])
    out = tmp_path / "out.jsonl"
    out.write_text("old output\n")

    def stop_after_two(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        annotate(nlp, source, out, batch_size=2, on_progress=stop_after_two)
    assert out.read_text() == "old output\n"  # nothing partial at OUTPUT
    journal = journal_path(out)
    assert [json.loads(line)["id"] for line in journal.read_text().splitlines()[1:]] == ["r0", "r1"]  # after the header
    with pytest.raises(AnnotateError, match=r"out.jsonl.partial.jsonl: an unfinished run left this journal; pass --resume"):
        annotate(nlp, source, out)
    assert out.read_text() == "old output\n" and journal.exists()
    summary = annotate(nlp, source, out, resume=True)
    assert (summary.annotated, summary.resumed, summary.written) == (3, 2, 5)
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4"] and [r["text"] for r in rows] == texts
    assert rows[3]["links"][0]["score"] == LINK_SCORE  # the LOWER patterns match the upper-cased copy
    assert not journal.exists()


def test_journal_keeps_annotations_but_not_model_internals(nlp):
    doc = nlp(LINKED)
    doc.tensor = numpy.ones((len(doc), 8), dtype="f")
    doc.user_data[("._.", "trf_data", None, None)] = "wordpiece vectors"
    entry = json.loads(journal_line("a", doc))
    back = next(DocBin().from_bytes(base64.b64decode(entry["doc"])).get_docs(Vocab()))
    assert entry["id"] == "a" and back.tensor.size == 0 and ("._.", "trf_data", None, None) not in back.user_data
    assert back._.link_scores == [LINK_SCORE] and back.ents[0]._.confidence == pytest.approx(0.68)


def test_resume_ignores_a_truncated_last_entry(nlp, tmp_path):
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}, {"id": "b", "text": UNLINKED}, {"id": "c", "text": PLAIN}])
    out = tmp_path / "out.spacy"
    journal = journal_path(out)
    header = journal_header(model_source(nlp), input_source([source], whole_file=False))
    whole = header + journal_line("a", nlp(LINKED)) + journal_line("b", nlp(UNLINKED))
    journal.write_bytes(whole[: len(whole) - 40])  # killed while writing "b"
    state = recover_journal(journal, header)
    assert state.done == {"a"} and [str(p) for p in state.problems] == [f"{journal}:3: truncated last entry ignored"]
    assert journal.read_bytes() == header + journal_line("a", nlp(LINKED))
    journal.write_bytes(whole[: len(whole) - 40])
    problems = []
    summary = annotate(nlp, source, out, resume=True, on_problem=lambda p: problems.append(str(p)))
    assert (summary.annotated, summary.resumed, summary.written) == (2, 1, 3) and len(problems) == 1
    docs = list(DocBin().from_disk(out).get_docs(Vocab()))
    assert [d._.provenance.get("id") for d in docs[1:]] == ["b", "c"] and [d.text for d in docs] == [LINKED, UNLINKED, PLAIN]
    assert docs[0]._.link_scores == [LINK_SCORE]


def test_resume_without_journal_and_empty_input(nlp, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(AnnotateError, match=r"empty.txt: no record could be annotated \(the input holds no records\); nothing was written"):
        annotate(nlp, empty, out, resume=True)
    assert not out.exists() and not journal_path(out).exists()
    folder = tmp_path / "nothing"
    folder.mkdir()
    with pytest.raises(AnnotateError, match="nothing: no record could be annotated"):
        annotate(nlp, folder, tmp_path / "out.html")
    assert not (tmp_path / "out.html").exists()


def test_pubmed_and_whole_file_inputs_annotated(nlp, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "pubmed.xml").write_text(pubmed(article("12345", LINKED, [UNLINKED])))
    (folder / "whole.txt").write_text(f"{PLAIN}\n{LINKED}\n")
    out = tmp_path / "out.jsonl"
    annotate(nlp, folder, out, whole_file=True)
    pmid, whole = read_output(out)
    assert (pmid["id"], pmid["text"]) == ("12345", f"{LINKED}\nP0: {UNLINKED}") and len(pmid["entities"]) == 7
    assert (whole["id"], whole["text"]) == ("whole", f"{PLAIN}\n{LINKED}\n") and whole["links"][0]["members"]["CONTEXT"] == 3
    assert whole["entities"][0]["start"] == len(PLAIN) + 1


# ---------------------------------------------------------------- the CLI


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/annotate.py", *map(str, args)], capture_output=True, text=True, cwd=REPO)


def run_cli_here(*args):
    from tests.conftest import run_script  # here: --code imports this module as a file, not from the tests package

    return run_script("annotate", *args)


def test_cli_end_to_end(model_dir, tmp_path):
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}, "{broken", {"id": "b", "text": PLAIN}])
    out = tmp_path / "out.jsonl"
    # the test component lives in this module: --code imports it, as for any custom code
    result = run_cli(model_dir, source, out, "--code", Path(__file__), "--batch-size", 2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{source}:2: invalid JSON" in result.stdout
    assert "Annotated 2 docs; skipped 1; wrote 2 docs to" in result.stdout and "docs/s" in result.stderr
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["links"][0]["score"] == LINK_SCORE
    result = run_cli_here(model_dir, tmp_path / "missing.txt", out)
    assert result.returncode == 1 and f"{tmp_path / 'missing.txt'}: no such file or folder" in result.stdout
    result = run_cli_here(tmp_path / "no_model", source, tmp_path / "out2.jsonl")
    assert result.returncode == 1 and f"{tmp_path / 'no_model'}: cannot load the pipeline" in result.stdout
    assert not (tmp_path / "out2.jsonl").exists() and not journal_path(tmp_path / "out2.jsonl").exists()


@pytest.mark.parametrize("pipes", [[], ["entity_ruler"], ["sentencizer"]])
def test_a_pipeline_without_fgen_components_is_refused(tmp_path, pipes):
    # a blank pipeline (or spaCy's own components) would annotate nothing, silently
    blank = spacy.blank("en")
    for name in pipes:
        blank.add_pipe(name)
    blank.to_disk(tmp_path / "blank")
    with pytest.raises(PipelineLoadError, match=r"blank: not an fgen pipeline \(no component writes entities to doc.spans"):
        load_pipeline(str(tmp_path / "blank"))  # the loader of both paths (annotate and annotate_ray's actors)
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": LINKED}])
    result = run_cli_here(tmp_path / "blank", source, tmp_path / "out.jsonl")
    assert result.returncode == 1 and "not an fgen pipeline" in result.stdout
    assert not (tmp_path / "out.jsonl").exists() and not journal_path(tmp_path / "out.jsonl").exists()


def test_a_pipeline_with_fgen_components_loads(model_dir):
    assert load_pipeline(str(model_dir)).pipe_names == ["entity_ruler", "annotate_test_fgen"]
