"""fgen.formats.pubmed: PubMed XML as PubMed ships it (`.xml` and streamed `.xml.gz`, structured
abstracts, articles without an abstract, book articles, DeleteCitation blocks, broken files), and
its problems reaching the single-machine annotate's counts."""
import gzip
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest
import spacy

from fgen.annotate.inputs import AnnotateError, Problem, Record, input_files, read_records
from fgen.formats.pubmed import BOOK_ARTICLE, NO_ABSTRACT, DeletedCitations, FileProblem, read_pubmed_xml
from fgen.annotate.run_loop import annotate

DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
           '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')


def article_set(*children: str, doctype: bool = True) -> str:
    head = '<?xml version="1.0" encoding="utf-8"?>\n' + (DOCTYPE if doctype else "")
    return head + "<PubmedArticleSet>\n" + "\n".join(children) + "\n</PubmedArticleSet>\n"


def article(pmid: str, title: str = "", sections: Sequence[Tuple[str, str]] = ()) -> str:
    """A PubmedArticle; `sections` are (Label, text) pairs, Label "" for an unstructured abstract."""
    pmid_el = f'<PMID Version="1">{pmid}</PMID>' if pmid else ""
    parts = "".join(
        f'<AbstractText Label="{label}" NlmCategory="{label}">{text}</AbstractText>' if label else f"<AbstractText>{text}</AbstractText>"
        for label, text in sections
    )
    abstract = f"<Abstract>{parts}<CopyrightInformation>(c) 2025</CopyrightInformation></Abstract>" if sections else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">{pmid_el}<Article PubModel="Print">'
            f"<ArticleTitle>{title}</ArticleTitle>{abstract}</Article></MedlineCitation><PubmedData/></PubmedArticle>")


def book(pmid: str) -> str:
    return f"<PubmedBookArticle><BookDocument><PMID Version=\"1\">{pmid}</PMID><Book/></BookDocument></PubmedBookArticle>"


def delete_citation(*pmids: str) -> str:
    return "<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in pmids) + "</DeleteCitation>"


BASELINE = article_set(
    article("111", "Knockdown of <i>ATG12</i> inhibits tumorigenesis", [("BACKGROUND", "Autophagy &amp; cancer."), ("RESULTS", "In <sup>UM</sup> cells.")]),
    article("", "No PMID here", [("", "Text.")]),
    article("222"),
    article("333", "Title only"),
    book("444"),
    article("555", "", [("", "Unstructured abstract without a title.")]),
    delete_citation("9001", "9002", "9003", "9004", "9005", "9006"),
)


def items(iterator) -> Tuple[List[Record], List[Problem]]:
    got = list(iterator)
    return [i for i in got if isinstance(i, Record)], [i for i in got if isinstance(i, Problem)]


def test_read_pubmed_xml_structured_no_abstract_book_and_deleted(tmp_path):
    path = tmp_path / "pubmed25n0001.xml"
    path.write_text(BASELINE, encoding="utf8")
    records, problems = items(read_pubmed_xml(path))
    assert [(r.id, r.position, r.pmid) for r in records] == [("111", f"{path}: article 1", "111"), ("555", f"{path}: article 6", "555")]
    assert records[0].text == "Knockdown of ATG12 inhibits tumorigenesis\nBACKGROUND: Autophagy & cancer.\nRESULTS: In UM cells."
    assert records[1].text == "Unstructured abstract without a title."
    assert [str(p) for p in problems] == [
        f"{path}: article 2: no PMID",
        f"{path}: article 3: PMID 222: {NO_ABSTRACT}",
        f"{path}: article 4: PMID 333: {NO_ABSTRACT}",
        f"{path}: article 5: PMID 444: {BOOK_ARTICLE}",
        f"{path}: DeleteCitation of 6 PMIDs (9001, 9002, 9003, 9004, 9005, ...): remove them from earlier outputs",
    ]
    assert isinstance(problems[-1], DeletedCitations) and problems[-1].pmids == ("9001", "9002", "9003", "9004", "9005", "9006")
    assert not any(isinstance(p, FileProblem) for p in problems)


def test_gzipped_file_reads_like_the_plain_one(tmp_path):
    plain, packed = tmp_path / "pubmed25n0001.xml", tmp_path / "pubmed25n0002.xml.gz"
    plain.write_text(BASELINE, encoding="utf8")
    packed.write_bytes(gzip.compress(BASELINE.encode("utf8")))
    got_plain, got_packed = items(read_pubmed_xml(plain)), items(read_pubmed_xml(packed))
    assert [(r.id, r.text) for r in got_packed[0]] == [(r.id, r.text) for r in got_plain[0]]
    assert [p.reason for p in got_packed[1]] == [p.reason for p in got_plain[1]]
    assert input_files(packed) == [packed]  # accepted as an input ...
    records, _ = items(read_records([packed, plain]))  # ... and read by suffix; ids repeat across files
    assert [r.id for r in records] == ["111", "555"]


def test_streamed_gzip_keeps_what_came_before_corruption(tmp_path):
    data = gzip.compress(article_set(*(article(str(n), "T", [("", "A.")]) for n in range(1, 2001))).encode("utf8"))
    truncated = tmp_path / "truncated.xml.gz"
    truncated.write_bytes(data[: len(data) // 2])
    records, problems = items(read_pubmed_xml(truncated))
    assert 0 < len(records) < 2000 and [r.id for r in records] == [str(n) for n in range(1, len(records) + 1)]
    assert len(problems) == 1 and isinstance(problems[0], FileProblem)
    assert str(problems[0]).startswith(f"{truncated}: corrupt gzip data, rest of the file skipped (")
    not_gzip = tmp_path / "plain.xml.gz"
    not_gzip.write_text(BASELINE, encoding="utf8")
    records, problems = items(read_pubmed_xml(not_gzip))
    assert records == [] and [str(p) for p in problems] == [f"{not_gzip}: corrupt gzip data, rest of the file skipped (Not a gzipped file (b'<?'))"]


def test_read_pubmed_xml_broken_unsafe_and_foreign(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(article_set(article("1", "Good one", [("", "Text.")]), doctype=False).replace("</PubmedArticleSet>", "<PubmedArticle><oops></PubmedArticle>"))
    records, problems = items(read_pubmed_xml(broken))
    assert [r.id for r in records] == ["1"]  # read before the error: kept
    assert len(problems) == 1 and str(problems[0]).startswith(f"{broken}:4: malformed XML, rest of the file skipped (mismatched tag")
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY a "aaaa">]><PubmedArticleSet>&a;</PubmedArticleSet>')
    assert [str(p) for p in items(read_pubmed_xml(bomb))[1]] == [f"{bomb}: unsafe XML, rest of the file skipped (EntitiesForbidden)"]
    mae = tmp_path / "mae.xml"
    mae.write_text("<Genomics_ConceptTask><TEXT>x</TEXT></Genomics_ConceptTask>")
    assert [str(p) for p in items(read_pubmed_xml(mae))[1]] == [f"{mae}: not a PubMed XML file (root element <Genomics_ConceptTask>)"]
    empty = tmp_path / "empty.xml"
    empty.write_text("")
    problems = items(read_pubmed_xml(empty))[1]
    assert str(problems[0]).startswith(f"{empty}:1: malformed XML")
    assert all(isinstance(p, FileProblem) for p in [*items(read_pubmed_xml(bomb))[1], *items(read_pubmed_xml(mae))[1], *problems])


def test_single_machine_annotate_counts_and_reports_what_pubmed_skips(tmp_path):
    folder = tmp_path / "baseline"
    folder.mkdir()
    (folder / "pubmed25n0001.xml.gz").write_bytes(gzip.compress(BASELINE.encode("utf8")))
    problems: List[str] = []
    summary = annotate(spacy.blank("en"), folder, tmp_path / "out.jsonl", on_problem=lambda p: problems.append(str(p)))
    assert (summary.annotated, summary.skipped) == (2, 5)
    assert sum(NO_ABSTRACT in p for p in problems) == 2 and sum(BOOK_ARTICLE in p for p in problems) == 1
    assert sum("DeleteCitation of 6 PMIDs" in p for p in problems) == 1


def test_unsupported_gz_input_is_refused(tmp_path):
    (tmp_path / "texts.txt.gz").write_bytes(gzip.compress(b"x"))
    with pytest.raises(AnnotateError, match=r"texts.txt.gz: unsupported input"):
        input_files(tmp_path / "texts.txt.gz")
