"""fgen-suggest (fgen.suggest): the uncertainty signals, the ranking, and scripts/suggest.py end to
end on a tiny ensemble pipeline (two taggers on their own tiny CNNs + fgen_links)."""
import csv
import json
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.training import Example

import fgen  # noqa: F401  registers the Doc extensions
from fgen.corpus.conversion import convert_paths
from fgen.corpus.schemes import load_scheme
from fgen.corpus.tokenizer import make_nlp
from fgen.doc_layout import set_links
from fgen.suggest.ranking import Scored, percentiles, rank, record_pmid, strategy_weights
from fgen.suggest.uncertainty import Uncertainty, annotate_with_uncertainty, member_disagreement, near_threshold
from fgen.annotate.inputs import AnnotateError, Record

from ..conftest import V2_CATEGORIES, V2_VALUES, run_script, tiny_tok2vec

ABSTRACT = "Knockdown of ATG12 in UM cells inhibits tumorigenesis. Overexpression of ZNNT1 promotes autophagy."
PIECES = {"Knockdown of ATG12": ("PERTURBING_ACTION", "rnai/knockdown"), "UM cells": ("CONTEXT", "transformed cells"),
          "inhibits": ("EFFECT", "negative"), "tumorigenesis": ("PHENOTYPE", "tumourigenesis")}
POOL = [
    "Knockdown of ATG5 in HeLa cells inhibits autophagy.",
    "Overexpression of MYC in UM cells promotes migration and invasion of tumour cells in mice.",
    "We report nothing of interest here.",
    "Silencing of BECN1 reduced tumorigenesis. Loss of TP53 in fibroblasts increased proliferation.",
    "Knockdown of ATG12 in UM cells inhibits tumorigenesis.",
]


def tagger() -> dict:
    return {"@architectures": "fgen.ner_tagger.v1", "hidden_width": 0, "tok2vec": tiny_tok2vec()}


def write_definitions(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tag_categories_v2.json").write_text(json.dumps(V2_CATEGORIES))
    (root / "tag_list_definitions_v2.json").write_text(json.dumps(V2_VALUES))
    return root


def build_pipeline(definitions: Path, ensemble: bool = True, steps: int = 8) -> Language:
    """fgen_ner (an ensemble of two taggers, or one), fgen_values and fgen_links, trained a few
    steps on one abstract."""
    spacy.util.fix_random_seed(0)
    nlp = make_nlp()
    model = {"@architectures": "fgen.ner_ensemble.v1", "*": {"a": tagger(), "b": tagger()}} if ensemble else tagger()
    nlp.add_pipe("fgen_ner", config={"model": model})
    values = {"@architectures": "fgen.value_model.v1", "hidden_width": 16, "dropout": 0.0, "tok2vec": tiny_tok2vec()}
    nlp.add_pipe("fgen_values", config={"model": values})
    nlp.config["initialize"]["components"]["fgen_values"] = {"definitions": str(definitions), "scheme": "v2"}
    link_model = {"@architectures": "fgen.link_model.v1", "hidden_width": 16, "entity_width": 8, "dropout": 0.0,
                  "entity_dropout": 0.0, "n_roles": 4, "tok2vec": tiny_tok2vec()}
    nlp.add_pipe("fgen_links", config={"model": link_model})
    doc = nlp.make_doc(ABSTRACT)
    spans = [doc.char_span(ABSTRACT.index(p), ABSTRACT.index(p) + len(p), label=label, kb_id=value) for p, (label, value) in PIECES.items()]
    doc.ents = spans
    doc.spans["fgen"] = spans
    set_links(doc, [{s.label_: s for s in spans}])
    doc._.provenance = {"links_annotated": True}
    examples = [Example(nlp.make_doc(ABSTRACT), doc)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def definitions(tmp_path_factory) -> Path:
    return write_definitions(tmp_path_factory.mktemp("definitions"))


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, definitions) -> Path:
    path = tmp_path_factory.mktemp("suggest") / "ensemble"
    build_pipeline(definitions).to_disk(path)
    return path


def test_disagreement_is_zero_for_agreeing_members_and_grows_with_their_difference():
    same = torch.tensor([[[0.9, 0.1], [0.2, 0.8]]])
    assert member_disagreement([same, same.clone()], [2]) == pytest.approx([0.0], abs=1e-6)
    near = torch.tensor([[[0.8, 0.2], [0.2, 0.8]]])
    far = torch.tensor([[[0.1, 0.9], [0.2, 0.8]]])
    small, large = member_disagreement([same, near], [2])[0], member_disagreement([same, far], [2])[0]
    assert 0 < small < large
    # padding rows beyond a doc's length are ignored
    padded = torch.tensor([[[0.9, 0.1], [0.0, 1.0]]])
    assert member_disagreement([same, padded], [1]) == pytest.approx([0.0], abs=1e-6)


def test_near_threshold_peaks_at_the_threshold():
    values = near_threshold(numpy.array([0.0, 0.15, 0.3, 0.65, 1.0]), 0.3)
    assert values == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])


def test_percentiles_share_ties_and_rank_strategies_weigh_the_signals():
    assert list(percentiles([3.0, 1.0, 2.0, 2.0])) == pytest.approx([1.0, 0.0, 0.5, 0.5])

    def scored(i, d, m, s):
        return Scored(str(i), Uncertainty(d, m, s), 10, 0, 0)

    pool = [scored(0, 0.0, 0.9, 0.0), scored(1, 0.9, 0.0, 0.0), scored(2, 0.5, 0.5, 0.9)]
    assert [s.id for s, _ in rank(pool, "disagreement")] == ["1", "2", "0"]
    assert [s.id for s, _ in rank(pool, "uncertainty")] == ["0", "2", "1"]
    assert [s.id for s, _ in rank(pool, "combined")][0] == "2"
    # a single pipeline: the disagreement weight goes to the others, the strategy needs an ensemble
    assert strategy_weights("combined", False) == pytest.approx({"marginal": 2 / 3, "statements": 1 / 3})
    with pytest.raises(AnnotateError, match="ensemble"):
        rank([scored(0, None, 0.1, 0.1)], "disagreement")
    randoms = [[s.id for s, _ in rank(pool, "random", seed)] for seed in range(6)]
    assert randoms[0] == [s.id for s, _ in rank(pool, "random", 0)] and len({tuple(r) for r in randoms}) > 1


def test_pmids_of_pool_records():
    assert record_pmid(Record("12345678", "t", "p")) == "12345678"
    assert record_pmid(Record("PMID_12345678", "t", "p")) == "12345678"
    assert record_pmid(Record("pool:12", "t", "p")) is None
    assert record_pmid(Record("x", "t", "p", pmid="555555")) == "555555"


def test_signals_come_with_the_pipelines_own_annotations(ensemble_dir, definitions):
    nlp = spacy.load(ensemble_dir)
    docs = [nlp.make_doc(text) for text in POOL]
    measured = annotate_with_uncertainty(nlp, docs)
    expected = list(nlp.pipe(POOL))
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == \
        [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in expected]
    assert [len(d._.links) for d in docs] == [len(d._.links) for d in expected]
    assert all(u.disagreement is not None and u.disagreement >= 0 and 0 <= u.marginal <= 1 and u.statements >= 0 for u in measured)
    assert len({round(u.disagreement, 9) for u in measured}) > 1  # it tells the abstracts apart
    single = build_pipeline(definitions, ensemble=False, steps=1)
    assert all(u.disagreement is None for u in annotate_with_uncertainty(single, [single.make_doc(t) for t in POOL]))


def test_script_ranks_every_id_once_and_writes_the_top_as_mae_that_converts_back(ensemble_dir, tiny_corpus, tmp_path):
    pool = tmp_path / "pool.jsonl"
    rows = [{"id": str(100000 + i), "text": text} for i, text in enumerate(POOL)]
    rows.append({"id": "PMID111111", "text": ABSTRACT})  # in the corpus (tiny_corpus has PMID 111111)
    rows.append({"id": "long", "text": "cells " * 400})  # over --max-chars
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n", encoding="utf8")
    out = tmp_path / "suggested"
    result = run_script("suggest", ensemble_dir, pool, out, "--top", "3", "--corpus", tiny_corpus / "raw_data",
                        "--definitions", tiny_corpus, "--max-chars", "1000")
    assert result.returncode == 0, result.stdout + result.stderr
    with (out / "ranking.csv").open(encoding="utf8") as handle:
        ranking = list(csv.DictReader(handle))
    assert sorted(r["id"] for r in ranking) == sorted(r["id"] for r in rows[: len(POOL)])
    assert [int(r["rank"]) for r in ranking] == list(range(1, len(POOL) + 1))
    assert [float(r["score"]) for r in ranking] == sorted((float(r["score"]) for r in ranking), reverse=True)
    assert all(r["disagreement"] and r["marginal"] and r["statements"] for r in ranking)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["in_corpus"] == 1 and summary["in_corpus_ids"] == ["PMID111111"] and len(summary["skipped"]) == 2
    top = [r["id"] for r in ranking[:3]]
    assert sorted(p.name for p in out.glob("*.xml")) == sorted(f"{i}.xml" for i in top)
    scheme = load_scheme(tiny_corpus, "v2")
    converted = convert_paths([out], scheme, make_nlp())
    assert not converted.errors
    nlp = spacy.load(ensemble_dir)
    texts = {r["id"]: r["text"] for r in rows}
    back = {Path(d._.provenance["source"]).stem: d for d in converted.docs}
    for doc_id in top:
        predicted = nlp(texts[doc_id])
        assert back[doc_id].text == texts[doc_id]
        assert [(e.start_char, e.end_char, e.label_) for e in back[doc_id].ents] == \
            [(e.start_char, e.end_char, e.label_) for e in predicted.ents]
    assert sum(len(d.ents) for d in back.values()) > 0  # the pipeline found something to pre-annotate
    # an earlier output is replaced; a folder of other files is refused
    again = run_script("suggest", ensemble_dir, pool, out, "--top", "1", "--strategy", "random", "--max-chars", "1000",
                       "--definitions", tiny_corpus)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list(out.glob("*.xml"))) == 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run_script("suggest", ensemble_dir, pool, foreign, "--definitions", tiny_corpus)
    assert refused.returncode == 1 and (foreign / "notes.txt").read_text() == "mine"
