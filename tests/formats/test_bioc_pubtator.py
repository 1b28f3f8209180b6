"""BioC (XML, JSON) and PubTator, out and in: the acceptance check of issue 30 (annotate writes
BioC that `bioc` reads back, each location slicing its passage to the annotation text, each
statement a relation of four nodes; PubTator offsets cutting the mention out of the text),
round trips, the BioC DTD, and bad input named by file and record.

The pipeline is built once for the module and the structured PubMed input annotated once per
output format (`outputs`); the tests read those files and write only what they add.
"""
import json
from pathlib import Path
from typing import Dict

import bioc
import pytest
from bioc import biocjson
from lxml import etree

from fgen.annotate.inputs import AnnotateError, read_records
from fgen.annotate.outputs import output_format
from fgen.annotate.run_loop import annotate
from fgen.formats.bioc import document_record, read_bioc_json, read_bioc_xml
from fgen.formats.pubtator import read_pubtator
from fgen.formats.records import FileProblem, Problem, Record
from tests.annotate.test_annotate import LINKED, ROLES, UNLINKED, article, build_nlp, items, pubmed, read_output

DTD = Path(__file__).with_name("BioC.dtd")
TITLE = "ATG12 and tumours"


# The output formats of `outputs`, with their suffixes.
FORMATS = {"jsonl": ".jsonl", "bioc-xml": ".xml", "bioc-json": ".json", "pubtator": ".pubtator"}


@pytest.fixture(scope="module")
def nlp():
    """The test pipeline, built in memory (annotate needs no folder)."""
    return build_nlp()


@pytest.fixture(scope="module")
def structured(tmp_path_factory) -> Path:
    """PubMed XML: a title and a structured abstract of two sections (labels P0, P1). Read-only."""
    path = tmp_path_factory.mktemp("input") / "in.xml"
    path.write_text(pubmed(article("123", TITLE, [LINKED, UNLINKED]), article("456", "", [UNLINKED])), encoding="utf8")
    return path


@pytest.fixture(scope="module")
def outputs(nlp, structured, tmp_path_factory) -> Dict[str, Path]:
    """`structured` annotated once in each of `FORMATS`: format -> output file. Read-only."""
    folder = tmp_path_factory.mktemp("outputs")
    return {fmt: run(nlp, structured, folder / f"out{suffix}", fmt) for fmt, suffix in FORMATS.items()}


def run(nlp, source: Path, output: Path, fmt: str) -> Path:
    annotate(nlp, source, output, fmt)
    return output


def check_collection(collection: bioc.BioCCollection) -> None:
    """The acceptance check: every location slices its passage to the annotation's text; every
    statement a relation with a node per category, each naming an annotation."""
    for document in collection.documents:
        ids = set()
        for passage in document.passages:
            for annotation in passage.annotations:
                (location,) = annotation.locations
                start = location.offset - passage.offset
                assert passage.text[start : start + location.length] == annotation.text
                ids.add(annotation.id)
        for relation in document.relations:
            assert sorted(node.role for node in relation.nodes) == sorted(ROLES)
            assert {node.refid for node in relation.nodes} <= ids


def test_bioc_xml_output_reads_back_valid_and_round_trips(outputs):
    out = outputs["bioc-xml"]
    jsonl = read_output(outputs["jsonl"])
    etree.parse(str(out)).getroot()  # well formed
    assert etree.DTD(str(DTD)).validate(etree.parse(str(out))), "not valid against the BioC DTD"
    collection = bioc.load(out.open(encoding="utf8"))
    check_collection(collection)
    first = collection.documents[0]
    assert first.id == "123"
    assert [(p.infons["type"], p.infons.get("section"), p.text) for p in first.passages] == [
        ("title", None, TITLE), ("abstract", "P0", f"P0: {LINKED}"), ("abstract", "P1", f"P1: {UNLINKED}")]
    assert [p.offset for p in first.passages] == [0, len(TITLE) + 1, len(TITLE) + 1 + len(f"P0: {LINKED}") + 1]
    assert len(first.relations) == 1 and first.relations[0].infons["score"] == "0.75"
    # fgen -> BioC -> fgen: the same entities and statements as the JSONL output
    assert [document_record(d) for d in collection.documents] == [{k: r[k] for k in ("id", "entities", "links")} for r in jsonl]


def test_bioc_input_keeps_passage_offsets_both_formats(nlp, outputs, tmp_path):
    first = read_output(outputs["jsonl"])
    for fmt in ("bioc-xml", "bioc-json"):
        again = read_output(run(nlp, outputs[fmt], tmp_path / f"again-{fmt}.jsonl", "jsonl"))
        assert [(r["id"], r["text"], r["entities"], r["links"]) for r in again] == [(r["id"], r["text"], r["entities"], r["links"]) for r in first]
    with outputs["bioc-json"].open(encoding="utf8") as handle:
        check_collection(biocjson.load(handle))


def test_bioc_input_with_gaps_between_passages(tmp_path):
    collection = bioc.BioCCollection()
    document = bioc.BioCDocument()
    document.id = "789"
    for offset, text in ((0, TITLE), (100, LINKED)):
        passage = bioc.BioCPassage.of_text(text, offset)
        passage.infons["type"] = "title" if offset == 0 else "abstract"
        document.add_passage(passage)
    collection.add_document(document)
    path = tmp_path / "gaps.xml"
    path.write_text(bioc.dumps(collection), encoding="utf8")
    (record,) = list(read_bioc_xml(path))
    assert record.text[100:] == LINKED and record.text[:len(TITLE)] == TITLE and len(record.text) == 100 + len(LINKED)
    assert [(p.offset, p.length, p.type) for p in record.passages] == [(0, len(TITLE), "title"), (100, len(LINKED), "abstract")]


def pubtator_lines(path: Path):
    blocks = [b.splitlines() for b in path.read_text(encoding="utf8").split("\n\n") if b.strip()]
    return [(b[0].split("|", 2), b[1].split("|", 2), [line.split("\t") for line in b[2:]]) for b in blocks]


def check_pubtator(path: Path) -> list:
    """The acceptance check: each entity line's offsets cut its mention out of title + one
    character + abstract, as PubTator counts."""
    blocks = pubtator_lines(path)
    for (doc_id, _, title), (abstract_id, _, abstract), entities in blocks:
        assert doc_id == abstract_id
        text = f"{title} {abstract}"
        for cells in entities:
            assert cells[0] == doc_id and len(cells) == 6
            assert text[int(cells[1]) : int(cells[2])] == cells[3]
    return blocks


def test_pubtator_output_offsets_and_round_trip(nlp, outputs, tmp_path):
    out = outputs["pubtator"]
    blocks = check_pubtator(out)
    assert [b[0][0] for b in blocks] == ["123", "456"]
    assert blocks[0][0][2] == TITLE and blocks[0][1][2] == f"P0: {LINKED} P1: {UNLINKED}"  # sections joined by a space
    assert {(c[4], c[5]) for c in blocks[0][2]} >= {("PERTURBING_ACTION", "rnai/knockdown"), ("PHENOTYPE", "autophagy")}
    assert blocks[1][0][2] == ""  # no title: offsets still count the one character before the abstract
    # PubTator in -> PubTator out: the same text, ids and entities
    again = run(nlp, out, tmp_path / "again.pubtator", "pubtator")
    assert again.read_text(encoding="utf8") == out.read_text(encoding="utf8")
    # txt input (one passage, no title) -> PubTator
    txt = tmp_path / "in.txt"
    txt.write_text(f"{LINKED}\n", encoding="utf8")
    check_pubtator(run(nlp, txt, tmp_path / "txt.pubtator", "pubtator"))


def test_output_formats_by_name_and_suffix(tmp_path):
    assert [output_format(tmp_path / n) for n in ("a.xml", "a.json", "a.pubtator")] == ["bioc-xml", "bioc-json", "pubtator"]
    assert output_format(tmp_path / "a.out", "BioC-XML") == "bioc-xml"
    with pytest.raises(AnnotateError, match="unknown format 'bioc'"):
        output_format(tmp_path / "a.xml", "bioc")


def bioc_xml(*documents: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE collection SYSTEM "BioC.dtd">\n'
            "<collection><source>t</source><date/><key/>" + "".join(documents) + "</collection>")


def bioc_doc(doc_id: str, passages: str) -> str:
    return f"<document><id>{doc_id}</id>{passages}</document>"


def passage(offset: int, text: str, annotation: str = "") -> str:
    return f"<passage><infon key=\"type\">abstract</infon><offset>{offset}</offset><text>{text}</text>{annotation}</passage>"


def test_bad_bioc_input_is_named_by_file_and_record(nlp, tmp_path):
    good = bioc_doc("1", passage(0, LINKED))
    outside = bioc_doc("2", passage(0, "Short.", '<annotation id="a"><location offset="3" length="40"/><text>x</text></annotation>'))
    cases = {
        "truncated.xml": bioc_xml(good, good.replace("<id>1", "<id>9"))[:-40],
        "entities.xml": bioc_xml(good).replace("<collection>", '<!DOCTYPE c [<!ENTITY x "y">]><collection>').replace(
            '<!DOCTYPE collection SYSTEM "BioC.dtd">\n', ""),
        "records.xml": bioc_xml(good, outside, bioc_doc("3", ""), bioc_doc("4", passage(0, "Text one.") + passage(3, "overlap"))),
    }
    for name, content in cases.items():
        (tmp_path / name).write_text(content, encoding="utf8")
    truncated = list(read_bioc_xml(tmp_path / "truncated.xml"))
    assert len(truncated) == 1 and isinstance(truncated[0], FileProblem)  # nothing of the file, not half of it
    assert str(truncated[0]).startswith(f"{tmp_path / 'truncated.xml'}:") and "malformed XML" in str(truncated[0])
    (unsafe,) = read_bioc_xml(tmp_path / "entities.xml")
    assert isinstance(unsafe, FileProblem) and "unsafe XML" in unsafe.reason
    records, problems = items(read_bioc_xml(tmp_path / "records.xml"))
    path = tmp_path / "records.xml"
    assert [r.id for r in records] == ["1"]
    assert problems == [
        f"{path}: document 2 (id 2): annotation a: location 3+40 is outside the text (0-6)",
        f"{path}: document 3 (id 3): no passages",
        f"{path}: document 4 (id 4): passage at offset 3 starts before the previous one ends (at 9)",
    ]
    # annotate: the bad records skipped and named, the rest written; a file of nothing good writes nothing
    reported = []
    annotate(nlp, path, tmp_path / "out.jsonl", on_problem=lambda p: reported.append(str(p)))
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == ["1"] and reported == problems
    with pytest.raises(AnnotateError, match="no record could be annotated"):
        annotate(nlp, tmp_path / "truncated.xml", tmp_path / "none.xml", "bioc-xml")
    assert not (tmp_path / "none.xml").exists()


def test_bad_bioc_json_input(tmp_path):
    path = tmp_path / "in.json"
    for content, expected in (
        ('{"documents": [', "invalid JSON"),
        ('{"source": "x"}', 'no "documents" list'),
    ):
        path.write_text(content, encoding="utf8")
        (problem,) = read_bioc_json(path)
        assert isinstance(problem, FileProblem) and expected in str(problem) and str(path) in str(problem)
    path.write_text(json.dumps({"documents": [{"id": "5", "passages": [{"offset": 0}]}, 3]}), encoding="utf8")
    assert [str(p) for p in read_bioc_json(path)] == [
        f"{path}: document 1: not a BioC document (KeyError: 'infons')", f"{path}: document 2: not a BioC document (not a JSON object)"]


def test_bad_pubtator_input_is_named_by_line_and_id(tmp_path):
    path = tmp_path / "in.pubtator"
    path.write_text(
        f"1|t|{TITLE}\n1|a|{LINKED}\n1\t0\t5\tATG12\tGene\t9474\n1\tCID\tD1\tD2\n\n"
        f"2|t|T\n2|a|Short.\n2\t3\t80\tx\tGene\t1\n\n"
        f"3|a|No title.\n\n"
        f"4|t|T\n4|a|A\n5\t0\t1\tT\tGene\t1\n\n"
        "stray line\n", encoding="utf8")
    records, problems = items(read_pubtator(path))
    assert [(r.id, r.text, [(p.offset, p.type) for p in r.passages]) for r in records] == [
        ("1", f"{TITLE}\n{LINKED}", [(0, "title"), (len(TITLE) + 1, "abstract")])]
    assert problems == [
        f"{path}:8 (id 2): offsets 3-80 are outside the text (0-8)",
        f"{path}:10 (id 3): line 10: abstract line before a title line",
        f"{path}:12 (id 4): line 14: id '5' inside the block of '4'",
        f"{path}:16: not a PubTator line (ID|t|title, ID|a|abstract or tab-separated annotation)",
    ]


def test_suffixes_pick_the_reader(tmp_path, structured):
    # .xml: PubMed or BioC by the root element; a folder reads both kinds
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.xml").write_bytes(structured.read_bytes())
    (folder / "b.xml").write_text(bioc_xml(bioc_doc("b1", passage(0, LINKED))), encoding="utf8")
    (folder / "c.pubtator").write_text(f"c1|t|{TITLE}\nc1|a|{UNLINKED}\n", encoding="utf8")
    records, problems = items(read_records(sorted(folder.iterdir())))
    assert [r.id for r in records] == ["123", "456", "b1", "c1"] and problems == []
    assert all(isinstance(r, Record) and r.passages for r in records)
    assert not any(isinstance(p, Problem) for p in records)
