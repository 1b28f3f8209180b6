"""Smoke tests: `spacy train` with configs/ner_cnn.cfg and configs/ner.cfg (on a tiny random BERT
built offline), loading the trained pipelines offline, long docs, scripts/evaluate.py.

A few training steps on a three-doc corpus: these check that everything connects and
serializes, not that anything is learned.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

import fgen  # noqa: F401  registers the span extensions
from fgen.doc_layout import SPAN_KEY

from .conftest import REPO, SMOKE_RUNS, TEXT, V2_CATEGORIES, V2_VALUES, mae_xml, v2_tags
from .tiny_transformer import PRIMER_CHARS, build_tiny_bert, primer_text

# The tests on the session's runs (conftest) share their xdist group; the others run anywhere.
shares_runs = pytest.mark.xdist_group(SMOKE_RUNS)

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
TEXT2 = TEXT + " Knockdown of ZNNT1 in UM cells promotes migration."
# Longer than two transformer windows of configs/ner.cfg (192 tokens, stride 144).
LONG_TEXT = " ".join([TEXT2] * 12)
WINDOW_STRIDE = (192, 144)
# Letters only in the tiny BERT's vocabulary for these: a window of 192 tokens is > 512 wordpieces.
PRIMERS = primer_text()
# Run in a fresh process with the hub offline: load a transformer pipeline, run it on each text
# and report how the transformer covered the tokens (doc._.trf_data) and what the NER's listener
# (the token vectors the components see) gives per token: one JSON line per text.
LOAD_AND_INSPECT = """
import json, sys
import numpy, spacy
nlp = spacy.load(sys.argv[1])
for doc in nlp.pipe(sys.argv[2:]):
    trf = doc._.trf_data
    lengths = numpy.asarray(trf.align.lengths)
    rows = numpy.asarray(nlp.get_pipe("fgen_ner").model.get_ref("tok2vec").predict([doc])[0])
    print(json.dumps({
        "pipeline": nlp.pipe_names,
        "tokens": len(doc),
        "windows": int(trf.wordpieces.input_ids.shape[0]),
        "wordpieces": int(trf.wordpieces.input_ids.shape[1]),
        "unaligned": [t.text for t, n in zip(doc, lengths) if n == 0 and not t.is_space],
        "last_token_aligned": bool(lengths[-1] > 0),
        "rows": int(rows.shape[0]),
        "zero_rows": [t.text for t, row in zip(doc, rows) if not t.is_space and not numpy.abs(row).sum() > 0],
    }))
"""


def run(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, cwd=REPO, env=full_env, timeout=timeout
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def train_process(config: str, output: Path, data: Path, *overrides, env=None) -> subprocess.CompletedProcess:
    """`spacy train configs/<config>` for 10 steps (evaluated every 5) on `data` into `output`;
    returns the finished process (its console output in stdout)."""
    result = run(
        "-m", "spacy", "train", REPO / "configs" / config, "--output", output,
        "--paths.train", data, "--paths.dev", data,
        "--training.max_steps", "10", "--training.eval_frequency", "5", *overrides,
        env=env,
    )
    assert (output / "model-best").is_dir() and (output / "model-last").is_dir()
    return result


def train(config: str, output: Path, data: Path, *overrides, env=None) -> Path:
    """As train_process; returns the output folder."""
    train_process(config, output, data, *overrides, env=env)
    return output


def write_smoke_corpus(root: Path) -> Path:
    """Write the definition files and three MAE files (linked, entities only, none) under
    `root`; returns the raw_data folder to convert."""
    raw = root / "raw_data"
    raw.mkdir(parents=True)
    (root / "tag_categories_v2.json").write_text(json.dumps(V2_CATEGORIES))
    (root / "tag_list_definitions_v2.json").write_text(json.dumps(V2_VALUES))
    files = {
        "V2 Marked and Linked Entities/1_PMID111111.txt_CC2.xml": mae_xml(TEXT, v2_tags()),
        "V2 Marked Entities No Linking/2_PMID222222.txt_CC2.xml": mae_xml(TEXT2, v2_tags(TEXT2).split("\n<ENTITY_LINKING")[0]),
        "V2 Marked Entities No Linking/3_PMID333333.txt_CC2.xml": mae_xml("Knockdown of ZNNT1 promotes autophagy.", ""),
    }
    for name, content in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(content, encoding="utf8")
    return raw


@pytest.fixture(scope="module")
def cnn_model(logged_ner_run) -> Path:
    """configs/ner_cnn.cfg trained 10 steps on the smoke corpus (conftest: once per session)."""
    return logged_ner_run["out"]


@shares_runs
def test_cnn_config_trains_and_loads(cnn_model, corpus):
    nlp = spacy.load(cnn_model / "model-last")
    assert nlp.pipe_names == ["tok2vec", "fgen_ner", "fgen_values"]
    # fgen's tokenizer rules are saved with the pipeline
    assert [t.text for t in nlp.make_doc("(DEN)-induced")] == ["(", "DEN", ")", "-", "induced"]
    docs = list(nlp.pipe([TEXT2, "", "Nothing to see here."]))
    for doc in docs:
        assert SPAN_KEY in doc.spans
        assert [(s.start, s.end, s.label_, s.kb_id_) for s in doc.spans[SPAN_KEY]] == [
            (e.start, e.end, e.label_, e.kb_id_) for e in doc.ents
        ]
        for ent in doc.ents:
            assert 0.0 <= ent._.confidence <= 1.0
            assert ent.kb_id_ in V2_VALUES[ent.label_.lower()]
            assert 0.0 < ent._.value_confidence <= 1.0
    meta = json.loads((cnn_model / "model-best" / "meta.json").read_text())
    assert {"ents_f", "values_f"} <= set(meta["performance"])


def test_transformer_config_trains_loads_offline_and_covers_long_docs(corpus, tmp_path):
    encoder = build_tiny_bert(tmp_path / "tiny-bert", [TEXT, TEXT2, "Nothing to see here.", PRIMER_CHARS])
    out = train("ner.cfg", tmp_path / "trf", corpus / "train.spacy", "--paths.transformer", encoder, env=OFFLINE)
    config = spacy.util.load_config(out / "model-last" / "config.cfg")
    assert config["components"]["transformer"]["model"]["@architectures"] == "fgen.transformer_model.v1"
    get_spans = config["components"]["transformer"]["model"]["get_spans"]
    assert get_spans["@span_getters"] == "fgen.wordpiece_strided_spans.v1"
    assert (get_spans["window"], get_spans["stride"]) == WINDOW_STRIDE
    shutil.rmtree(encoder)  # the pipeline must not need the encoder folder any more
    check = run("-c", LOAD_AND_INSPECT, out / "model-last", LONG_TEXT, PRIMERS, env=OFFLINE)
    long_doc, primers = [json.loads(line) for line in check.stdout.strip().splitlines()[-2:]]
    print(long_doc, primers)
    assert long_doc["pipeline"] == ["transformer", "fgen_ner", "fgen_values"]
    assert long_doc["tokens"] > 2 * WINDOW_STRIDE[0]
    assert long_doc["windows"] >= 3
    # windows of 192 tokens overflow 512 wordpieces on the primers: they are split to fit
    assert primers["windows"] > long_doc["windows"] and primers["wordpieces"] <= 512
    for facts in (long_doc, primers):
        # every token gets wordpieces and a non-zero listener row, the last ones included
        assert facts["unaligned"] == []
        assert facts["rows"] == facts["tokens"]
        assert facts["zero_rows"] == []
        assert facts["last_token_aligned"]


def test_transformer_model_needs_the_encoder_only_at_initialize(monkeypatch):
    import fgen.pipeline.layers.encoders as encoders
    from spacy_transformers.span_getters import configure_strided_spans

    def missing(name):
        raise ImportError("no default encoder package")

    monkeypatch.setattr(encoders, "resolve_encoder", missing)
    model = encoders.create_transformer_model("fgen-default", configure_strided_spans(8, 6), {"use_fast": True})
    assert model.attrs["name"] == "fgen-default"  # built, e.g. by spacy.load of a trained pipeline
    with pytest.raises(ImportError, match="no default encoder"):
        model.initialize()


@shares_runs
def test_evaluate_script(cnn_model, corpus, tmp_path):
    metrics_path = tmp_path / "out" / "metrics.json"
    result = run(
        REPO / "scripts" / "evaluate.py", cnn_model / "model-best", corpus / "train.spacy",
        "--output", metrics_path, "--definitions", corpus,
    )
    assert "Word-level scores" in result.stdout
    metrics = json.loads(metrics_path.read_text())
    assert metrics["docs"] == 3 and metrics["scheme"] == "v2"
    scores = metrics["scores"]
    for key in ["ents_p", "ents_r", "ents_f", "values_p", "values_r", "values_f", "speed"]:
        assert key in scores
    for head in ["category", "perturbing_action", "context", "effect", "phenotype"]:
        for metric in "prf":
            assert 0.0 <= scores[f"words_{head}_{metric}"] <= 1.0
    # the smoke corpus has one abstract without entities: scored again without it
    assert scores["docs_with_entities"]["docs"] == 2 and "On the 2 docs with gold entities" in result.stdout
    assert 0.0 <= scores["docs_with_entities"]["words_category_f"] <= 1.0
    assert "Wrong words of the category head" in result.stdout and "words_errors" in scores
    assert not list(metrics_path.parent.glob(".*.tmp"))  # written atomically, nothing left over


@pytest.fixture(scope="module")
def pipeline_model(logged_pipeline_run) -> Path:
    """configs/pipeline_cnn.cfg trained 10 steps on the smoke corpus (conftest: once per session)."""
    return logged_pipeline_run["out"]


def _check_links(doc) -> None:
    assert len(doc._.link_scores) == len(doc._.links)
    for link, score in zip(doc._.links, doc._.link_scores):
        assert sorted(link) == sorted(V2_CATEGORIES) and 0.0 <= score <= 1.0
        assert all(span.label_ == role for role, span in link.items())
    for a, b, p in doc._.link_pairs:
        assert a.label_ != b.label_ and 0.0 <= p <= 1.0


@shares_runs
def test_pipeline_config_trains_and_links(pipeline_model):
    nlp = spacy.load(pipeline_model / "model-last")
    assert nlp.pipe_names == ["tok2vec", "fgen_ner", "fgen_values", "fgen_links"]
    for doc in nlp.pipe([TEXT2, "", LONG_TEXT]):
        _check_links(doc)
    meta = json.loads((pipeline_model / "model-best" / "meta.json").read_text())
    assert {"ents_f", "values_f", "links_f"} <= set(meta["performance"])


@shares_runs
def test_evaluate_script_with_gold_entities(pipeline_model, corpus, tmp_path):
    metrics_path = tmp_path / "metrics.json"
    result = run(
        REPO / "scripts" / "evaluate.py", pipeline_model / "model-last", corpus / "train.spacy",
        "--output", metrics_path, "--definitions", corpus, "--gold-entities",
    )
    assert "statements (exact)" in result.stdout
    metrics = json.loads(metrics_path.read_text())
    assert metrics["entities"] == "gold"
    scores = metrics["scores"]
    assert scores["ents_f"] == 1.0  # the gold entities were given
    for key in ["links_p", "links_r", "links_f", "link_pairs_f", "links_partial_f", "link_only_f"]:
        assert 0.0 <= scores[key] <= 1.0


def test_transformer_pipeline_config_trains_and_links(corpus, tmp_path):
    encoder = build_tiny_bert(tmp_path / "tiny-bert", [TEXT, TEXT2, "Nothing to see here."])
    out = train("pipeline.cfg", tmp_path / "trf", corpus / "train.spacy", "--paths.transformer", encoder, env=OFFLINE)
    shutil.rmtree(encoder)
    code = (
        "import json, sys, spacy, fgen; nlp = spacy.load(sys.argv[1]); doc = nlp(sys.argv[2]); "
        "ents = {(e.start, e.end, e.label_) for e in doc.spans['fgen']}; "
        "members = [(s.start, s.end, s.label_) for a, b, _ in doc._.link_pairs for s in (a, b)]; "
        "members += [(s.start, s.end, s.label_) for link in doc._.links for s in link.values()]; "
        "print(json.dumps([nlp.pipe_names, len(doc._.links), len(doc._.link_scores), all(m in ents for m in members)]))"
    )
    names, n_links, n_scores, members_are_entities = json.loads(
        run("-c", code, out / "model-last", LONG_TEXT, env=OFFLINE).stdout.strip().splitlines()[-1])
    assert names == ["transformer", "fgen_ner", "fgen_values", "fgen_links"]
    # statements and scored pairs are made of the pipeline's own predicted entities
    assert n_scores == n_links and members_are_entities
