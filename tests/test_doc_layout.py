"""Tokenizer rules, the Doc layout (spans, ents, kb_id, links, provenance) and MAE <-> Doc."""
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span

from fgen.doc_layout import SPAN_KEY, links_annotated, set_links
from fgen.formats.mae import read_mae
from fgen.formats.mae_doc import doc_to_mae, mae_to_doc
from fgen.corpus.tokenizer import customize_tokenizer, make_nlp, tokenize_at_boundaries

from .conftest import TEXT

V2_FILE = "raw_data/V2 Marked and Linked Entities/1_PMID111111.txt_CC2.xml"
V1_FILE = "raw_data/Marked and Linked Entities/1_PMID111111.txt_CC.xml"


@pytest.fixture(scope="module")
def nlp():
    """fgen's tokenizer, made once: make_nlp takes about a second (setting the tokenizer's affix
    rules reloads its special cases), and the tests here only run it, none changes it."""
    return make_nlp()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("(DEN)-induced", ["(", "DEN", ")", "-", "induced"]),
        ("knockout and/or TFE3", ["knockout", "and", "/", "or", "TFE3"]),
        ("cells, MCF-10A.", ["cells", ",", "MCF-10A", "."]),
        ("EGFRL858R -induced", ["EGFRL858R", "-", "induced"]),
        ("PP242-induced", ["PP242", "-", "induced"]),
    ],
)
def test_tokenizer_rules(nlp, text, expected):
    assert [t.text for t in nlp(text)] == expected


def test_tokenizer_rules_survive_serialization(nlp, tmp_path):
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert [t.text for t in loaded("(DEN)-induced and/or")] == ["(", "DEN", ")", "-", "induced", "and", "/", "or"]


def test_customize_callback_is_registered():
    callback = spacy.registry.callbacks.get("fgen.customize_tokenizer.v1")()
    nlp = callback(spacy.blank("en"))
    assert [t.text for t in nlp("and/or")] == ["and", "/", "or"]
    assert customize_tokenizer is callback


@pytest.mark.parametrize(
    "text,start,end,piece",
    [
        ("tumor growth and migration", 12, 26, " and migration"),  # span starts on a space
        ("induced apoptosis and more", 8, 18, "apoptosis "),  # span ends after a space
        ("progression in vitro and", 13, 20, "n vitro"),  # span starts inside a word
        ("primary astrocytes in", 0, 17, "primary astrocyte"),  # span ends inside a word
        ("a   b", 3, 4, " "),  # inside a run of spaces
    ],
)
def test_forced_splits_keep_text_and_offsets(nlp, text, start, end, piece):
    doc, bad_starts, bad_ends = tokenize_at_boundaries(nlp, text, {start}, {end})
    assert doc.text == text
    span = doc.char_span(start, end)
    assert span is not None and span.text == piece
    assert bad_starts | bad_ends


def test_no_forced_split_when_aligned(nlp):
    doc, bad_starts, bad_ends = tokenize_at_boundaries(nlp, "knockdown of ATG12", {0}, {18})
    assert not bad_starts and not bad_ends and len(doc) == 3


def _v2_doc(nlp, tiny_corpus, v2_scheme):
    record = read_mae(tiny_corpus / V2_FILE, v2_scheme)
    return mae_to_doc(nlp, record, v2_scheme, {"pmid": "111111", "scheme": "v2", "links_annotated": True}).doc


def test_v2_doc_layout(nlp, tiny_corpus, v2_scheme):
    doc = _v2_doc(nlp, tiny_corpus, v2_scheme)
    assert doc.text == TEXT
    assert len(doc.spans[SPAN_KEY]) == 10
    assert [(e.text, e.label_, e.kb_id_) for e in doc.ents][:2] == [
        ("Overexpression of ZNNT1", "PERTURBING_ACTION", "gene gain-of-function"),
        ("promotes", "EFFECT", "positive"),
    ]
    assert all(tok.ent_iob_ in ("B", "I", "O") for tok in doc)  # fully annotated, nothing missing
    links = doc._.links
    assert len(links) == 2
    assert {role: span.text for role, span in links[1].items()} == {
        "PERTURBING_ACTION": "Overexpression of ZNNT1",
        "CONTEXT": "UM cells",
        "EFFECT": "inhibits",
        "PHENOTYPE": "migration",
    }
    assert doc._.link_scores == [None, None]
    assert doc._.provenance["root_tag"] == "Genomics_ConceptTask"


def test_v1_discontinuous_and_overlapping(nlp, tiny_corpus, v1_scheme):
    record = read_mae(tiny_corpus / V1_FILE, v1_scheme)
    doc = mae_to_doc(nlp, record, v1_scheme, {"scheme": "v1"}).doc
    fragments = [s for s in doc.spans[SPAN_KEY] if s.id_ == "E0"]
    assert [s.text for s in fragments] == ["attenuates", "autophagy"]
    assert fragments[0].kb_id_ == "autophagy|decreases"
    context = next(s for s in doc.spans[SPAN_KEY] if s.label_ == "CONTEXT")
    assert context.kb_id_ == "transformed cell line|not stated"
    assert len(doc.ents) == 0  # overlapping entities: ents left unset (missing), spans hold them
    assert doc._.links[0]["EFFECT"].id_ == "E0"
    assert doc_to_mae(doc, v1_scheme).entities == record.entities


@pytest.mark.parametrize("which", ["v2", "v1"])
def test_docbin_round_trip_exact(nlp, tiny_corpus, v2_scheme, v1_scheme, which):
    scheme, path = (v2_scheme, V2_FILE) if which == "v2" else (v1_scheme, V1_FILE)
    record = read_mae(tiny_corpus / path, scheme)
    doc = mae_to_doc(nlp, record, scheme, {"scheme": which}).doc
    data = DocBin(store_user_data=True, docs=[doc]).to_bytes()
    loaded = list(DocBin().from_bytes(data).get_docs(spacy.blank("en").vocab))[0]  # a fresh vocab
    back = doc_to_mae(loaded, scheme)
    assert back.text == record.text
    assert sorted((e.id, e.label, e.fragments, e.values) for e in back.entities) == sorted(
        (e.id, e.label, e.fragments, e.values) for e in record.entities
    )
    assert [link.members for link in back.links] == [link.members for link in record.links]
    assert loaded._.provenance == {"scheme": which, "root_tag": "Genomics_ConceptTask"}


def test_links_readable_after_importing_fgen_only(nlp, tiny_corpus, v2_scheme, tmp_path):
    doc = _v2_doc(nlp, tiny_corpus, v2_scheme)
    DocBin(store_user_data=True, docs=[doc]).to_disk(tmp_path / "one.spacy")
    code = (
        "import fgen, spacy\n"
        "from spacy.tokens import DocBin\n"
        f"doc = next(DocBin().from_disk({str(tmp_path / 'one.spacy')!r}).get_docs(spacy.blank('en').vocab))\n"
        "print(len(doc._.links), doc._.links[0]['PHENOTYPE'].text, doc._.provenance['pmid'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "autophagy", "111111"]


def test_predicted_doc_exports_with_fresh_ids(nlp, v2_scheme):
    doc = nlp("Knockdown of ATG12 inhibits migration of UM cells.")
    pa, eff, ph, ctx = Span(doc, 0, 3, "PERTURBING_ACTION", kb_id="rnai/knockdown"), Span(doc, 3, 4, "EFFECT", kb_id="negative"), Span(doc, 4, 5, "PHENOTYPE", kb_id="migration"), Span(doc, 6, 8, "CONTEXT", kb_id="cells")
    doc.ents = [pa, eff, ph, ctx]
    set_links(doc, [{"PERTURBING_ACTION": pa, "EFFECT": eff, "PHENOTYPE": ph, "CONTEXT": ctx}], scores=[0.9])
    assert doc._.link_scores == [0.9]
    record = doc_to_mae(doc, v2_scheme)
    assert sorted(e.id for e in record.entities) == ["C0", "E0", "P0", "PH0"]
    assert record.links[0].members == {"PERTURBING_ACTION": "P0", "EFFECT": "E0", "PHENOTYPE": "PH0", "CONTEXT": "C0"}


def test_set_links_rejects_foreign_spans(nlp):
    doc, other = nlp("a b"), nlp("a b")
    with pytest.raises(ValueError, match="another Doc"):
        set_links(doc, [{"EFFECT": other[0:1]}])
    with pytest.raises(ValueError, match="2 scores for 1 links"):
        set_links(doc, [{"EFFECT": doc[0:1]}], scores=[0.1, 0.2])


def test_empty_doc(nlp, v2_scheme):
    from fgen.formats.mae import MaeDocument

    doc = mae_to_doc(nlp, MaeDocument(""), v2_scheme, {}).doc
    assert len(doc) == 0 and doc._.links == [] and list(doc.ents) == []
    assert doc_to_mae(doc, v2_scheme).entities == []
    assert isinstance(doc, Doc)


@pytest.mark.parametrize(
    "provenance,has_links,expected",
    [
        ({"links_annotated": True}, False, True),
        ({"links_annotated": False}, True, False),  # the flag decides, whatever the doc holds
        (None, False, True),  # hand-made: its (empty) links are the truth
        ({"pmid": "1"}, False, True),
    ],
)
def test_links_annotated_one_meaning(provenance, has_links, expected):
    nlp = spacy.blank("en")
    doc = nlp("Knockdown of ATG12 in UM cells inhibits tumorigenesis .")
    if has_links:
        roles = {"PERTURBING_ACTION": doc[0:3], "CONTEXT": doc[4:6], "EFFECT": doc[6:7], "PHENOTYPE": doc[7:8]}
        set_links(doc, [roles])
    doc._.provenance = provenance
    assert links_annotated(doc) is expected
