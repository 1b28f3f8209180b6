"""The NER benchmark's derived system configs and the shared entity scoring."""
import importlib.util

import pytest
import spacy
from spacy.tokens import DocBin, Span
from spacy.training import Example
from spacy.util import load_model_from_config

from fgen.doc_layout import SPAN_KEY
from fgen.scoring.evaluation import score_entities

from ..conftest import REPO


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("benchmark_ner", REPO / "scripts" / "benchmark_ner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "system,entity_pipe,factory",
    [("crf", "fgen_ner", "fgen_ner"), ("softmax", "fgen_ner", "fgen_ner"), ("ner", "ner", "ner"), ("spancat", "spancat", "spancat_singlelabel")],
)
def test_system_configs_build(system, entity_pipe, factory):
    cfg = _benchmark_module().system_config("cnn", system)
    nlp = load_model_from_config(cfg, auto_fill=True, validate=True)
    assert nlp.pipe_names == ["tok2vec", entity_pipe, "fgen_values"]
    assert nlp.get_pipe_meta(entity_pipe).factory == factory
    if system == "softmax":
        assert nlp.get_pipe("fgen_ner").use_crf is False
    if system == "spancat":
        assert nlp.get_pipe("spancat").key == SPAN_KEY
    # every entity component listens to the shared tok2vec
    assert cfg["components"][entity_pipe]["model"]["tok2vec"]["upstream"] == "tok2vec"


def test_unknown_system():
    with pytest.raises(ValueError, match="unknown system"):
        _benchmark_module().system_config("cnn", "crfx")


def test_score_entities_reads_span_group_or_ents():
    nlp = spacy.blank("en")
    gold = nlp("knockdown of ATG12 inhibits migration")
    gold.ents = [Span(gold, 0, 3, "PERTURBING_ACTION"), Span(gold, 3, 4, "EFFECT"), Span(gold, 4, 5, "PHENOTYPE")]
    from_group = nlp("knockdown of ATG12 inhibits migration")  # e.g. spancat: group only, no ents
    from_group.spans[SPAN_KEY] = [Span(from_group, 0, 3, "PERTURBING_ACTION"), Span(from_group, 3, 5, "EFFECT")]
    from_ents = nlp("knockdown of ATG12 inhibits migration")
    from_ents.ents = [Span(from_ents, 3, 4, "EFFECT"), Span(from_ents, 4, 5, "PHENOTYPE")]
    group_scores = score_entities([Example(from_group, gold)])
    assert (group_scores["ents_p"], group_scores["ents_r"]) == (0.5, 1 / 3)
    ents_scores = score_entities([Example(from_ents, gold)])
    assert (ents_scores["ents_p"], ents_scores["ents_r"]) == (1.0, 2 / 3)
    assert ents_scores["ents_per_type"]["EFFECT"]["f"] == 1.0


def test_carve_dev_keeps_pmids_together_and_writes_once(tmp_path):
    from fgen.runs.benchmarking import carve_dev

    nlp = spacy.blank("en")
    docs = []
    for i in range(20):
        doc = nlp(f"Knockdown of ATG{i} inhibits migration.")
        doc._.provenance = {"pmid": str(i // 2), "source": f"{i}.xml"}  # two docs per PMID
        docs.append(doc)
    source = tmp_path / "train.spacy"
    DocBin(store_user_data=True, docs=docs).to_disk(source)
    train, dev = carve_dev(source, tmp_path / "inner", 0.2)
    parts = [list(DocBin().from_disk(path).get_docs(nlp.vocab)) for path in (train, dev)]
    assert [len(part) for part in parts] == [16, 4]
    pmids = [{doc._.provenance["pmid"] for doc in part} for part in parts]
    assert not pmids[0] & pmids[1]
    assert sorted(doc.text for part in parts for doc in part) == sorted(doc.text for doc in docs)
    before = dev.stat().st_mtime_ns
    assert carve_dev(source, tmp_path / "inner", 0.2) == (train, dev)
    assert dev.stat().st_mtime_ns == before


def test_report_table_scores_docs_with_entities_apart():
    def result(fold, ents_f, subset):
        scores = {"ents_f": ents_f, "ents_per_type": {"EFFECT": {"f": ents_f}}, "values_f": 0.5, "values_acc": 0.9,
                  "words_category_f": 0.6, "links_f": 0.3}
        if subset is not None:
            scores["docs_with_entities"] = {"ents_f": subset, "words_category_f": subset + 0.1}
        return {"system": "crf", "encoder": "features", "fold": fold, "seconds_per_epoch": 10.0, "peak_rss_mb": 100.0,
                "words_per_second": 1000.0, "scores": scores}

    bench = _benchmark_module()
    table = bench.report_table([result(0, 0.6, 0.7), result(1, 0.6, 0.5)], ["EFFECT"], ["category"]).splitlines()
    assert "docs with entities: ents / words category F" in table[0]
    assert "60.0 ± 14.1 / 70.0 ± 14.1" in table[2]
    # results scored before the subset existed: no number made up
    old = bench.report_table([result(0, 0.6, None)], ["EFFECT"], ["category"]).splitlines()
    assert "| - / - |" in old[2]
