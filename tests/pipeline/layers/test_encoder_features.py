"""Frozen encoder features (fgen.encoder_features.v1) in a tok2vec with hash embeddings and a
BiLSTM (fgen.feature_embed.v1 + spacy.TorchBiLSTMEncoder.v1), on a tiny random BERT built offline."""
import copy
import pickle
from pathlib import Path
from typing import Optional

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

import fgen  # noqa: F401
from fgen.pipeline.layers import encoder_features, encoder_windows
from fgen.pipeline.layers.encoder_features import (
    create_cache_callback, disable_cache, doc_key, enable_cache, feature_cache, pipeline_features_nodes,
)

from ...conftest import TEXT
from ...tiny_transformer import build_tiny_bert

TRAIN_DATA = [
    ("Knockdown of ATG12 inhibits autophagy in UM cells.", [(0, 18, "PERTURBING_ACTION"), (41, 49, "CONTEXT")]),
    ("Overexpression of ZNNT1 promotes migration.", [(0, 23, "PERTURBING_ACTION")]),
    ("HeLa cells were treated.", [(0, 10, "CONTEXT")]),
]


def tok2vec_config(encoder: Path, layers=(-2, -1), combine: str = "concat", window: Optional[int] = 8,
                   transformer_config: Optional[dict] = None, get_spans: Optional[dict] = None,
                   tokenizer_config: Optional[dict] = None, mixed_precision: bool = False) -> dict:
    """window: strided windows of that many tokens; None: whole docs (fgen.wordpiece_doc_spans.v1);
    get_spans: another span getter's config block instead."""
    if get_spans is None:
        get_spans = ({"@span_getters": "fgen.wordpiece_doc_spans.v1"} if window is None else
                     {"@span_getters": "fgen.wordpiece_strided_spans.v1", "window": window, "stride": window - 2})
    features = {
        "@architectures": "fgen.encoder_features.v1", "name": str(encoder), "combine": combine,
        "layers": layers if isinstance(layers, str) else list(layers),
        "get_spans": get_spans, "tokenizer_config": tokenizer_config or {"use_fast": True},
        "transformer_config": transformer_config or {}, "mixed_precision": mixed_precision,
    }
    hash_embed = {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": ["NORM", "SHAPE"],
                  "rows": [200, 50], "include_static_vectors": False}
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "fgen.feature_embed.v1", "features": features, "hash_embed": hash_embed,
                  "width": 32, "feature_dropout": 0.0},
        "encode": {"@architectures": "fgen.bilstm_encoder.v1", "width": 32, "depth": 1, "dropout": 0.0},
    }


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    texts = [TEXT] + [text for text, _ in TRAIN_DATA]
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert", texts)


def make_nlp(encoder: Path, with_ner: bool = False, **kwargs) -> spacy.Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": tok2vec_config(encoder, **kwargs)})
    if not with_ner:
        return nlp
    nlp.add_pipe("fgen_ner", config={"model": {
        "@architectures": "fgen.ner_tagger.v1", "hidden_width": 0,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 32, "upstream": "tok2vec"},
    }})
    return nlp


def examples_for(nlp):
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN_DATA]


def train_with_cache(encoder: Path, seed: int = 0, steps: int = 60) -> spacy.Language:
    """tok2vec on `encoder`'s frozen features + fgen_ner trained on TRAIN_DATA with the feature
    cache on; it stays on (`disable_caches` turns it off)."""
    fix_random_seed(seed)
    nlp = make_nlp(encoder, with_ner=True)
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    callback = create_cache_callback(None)
    for step in range(steps):
        callback(nlp, {"step": step})
        nlp.update(examples, sgd=optimizer)
    return nlp


def disable_caches(nlp) -> None:
    for model in pipeline_features_nodes(nlp):
        disable_cache(model)


@pytest.fixture(scope="module")
def trained(tiny_bert):
    nlp = train_with_cache(tiny_bert)
    yield nlp
    disable_caches(nlp)


def features_of(nlp, docs):
    (model,) = pipeline_features_nodes(nlp)
    return model.predict(docs)


def assert_overfits_and_round_trips(nlp, path: Path) -> spacy.Language:
    """The trained pipeline finds TRAIN_DATA's entities, and saved to `path` and loaded it predicts
    the same; returns the loaded pipeline."""
    docs = list(nlp.pipe([t for t, _ in TRAIN_DATA]))
    for doc, (_, gold) in zip(docs, TRAIN_DATA):
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == gold
    nlp.to_disk(path)
    loaded = spacy.load(path)
    again = list(loaded.pipe([t for t, _ in TRAIN_DATA]))
    assert [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in again] == \
           [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in docs]
    return loaded


def test_overfits_with_the_cache_on_and_round_trips(trained, tmp_path):
    loaded = assert_overfits_and_round_trips(trained, tmp_path / "model")
    (model,) = pipeline_features_nodes(loaded)
    assert encoder_features.feature_cache(model) is None  # a loaded pipeline computes its features live


@pytest.mark.parametrize("combine", ["concat", "mean", "weighted"])
def test_cached_and_live_features_are_equal(tiny_bert, tmp_path, combine):
    nlp = make_nlp(tiny_bert, combine=combine)
    nlp.initialize()
    docs = [nlp.make_doc(TEXT), nlp.make_doc("Knockdown of ZNNT1.  HeLa"), nlp.make_doc("")]
    (model,) = pipeline_features_nodes(nlp)
    live = model.predict(docs)
    cache = enable_cache(model, tmp_path / "cache")
    try:
        first = model.predict(docs)
        assert len(list(cache.directory.glob("*.npy"))) == len(docs)
        cache.memory.clear()  # now read back from disk
        from_disk = model.predict(docs)
    finally:
        disable_cache(model)
    for a, b, c in zip(live, first, from_disk):
        numpy.testing.assert_array_equal(a, b)
        numpy.testing.assert_array_equal(a, c)


def test_the_cache_belongs_to_its_model_and_never_travels(tiny_bert):
    """Turned on for one pipeline's layer, the cache is not another's, is not saved, and a copy
    or a pickle of the layer starts without it (and frozen)."""
    nlp, other = make_nlp(tiny_bert), make_nlp(tiny_bert)
    nlp.initialize()
    other.initialize()
    (model,), (other_model,) = pipeline_features_nodes(nlp), pipeline_features_nodes(other)
    saved = model.to_bytes()
    cache = enable_cache(model)
    encoder_features.enable_fine_tuning(other_model)
    try:
        model.predict([nlp.make_doc(TEXT)])
        assert len(cache.memory) == 1 and feature_cache(model) is cache
        assert feature_cache(other_model) is None and not encoder_features.is_fine_tuned(model)
        assert model.to_bytes() == saved
        copied = encoder_features.training_state(copy.deepcopy(model))
        unpickled = pickle.loads(pickle.dumps(encoder_features.training_state(other_model)))
        for state in (copied, unpickled):
            assert state.cache is None and not state.fine_tuned
    finally:
        disable_cache(model)
        encoder_features.disable_fine_tuning(other_model)


@pytest.mark.parametrize("window", [8, None])
def test_docs_batched_by_length_keep_their_order(tiny_bert, monkeypatch, window):
    """The encoder reads the windows of the batch shortest first, a few at a time; each doc still
    gets its own features, as if it were alone in the batch."""
    nlp = make_nlp(tiny_bert, window=window)
    nlp.initialize()
    texts = [" ".join([TEXT] * 3), "", "Knockdown of ZNNT1.", TEXT, "HeLa cells.", " ".join([TEXT] * 2)]
    docs = [nlp.make_doc(text) for text in texts]
    monkeypatch.setattr(encoder_windows, "WINDOWS_PER_CALL", 2)
    together = features_of(nlp, docs)
    alone = [features_of(nlp, [doc])[0] for doc in docs]
    assert [f.shape[0] for f in together] == [len(doc) for doc in docs]
    for a, b in zip(together, alone):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_features_cover_every_token_and_empty_docs(tiny_bert):
    nlp = make_nlp(tiny_bert, layers=(-1,), combine="mean")
    nlp.initialize()
    docs = [nlp.make_doc(" ".join([TEXT] * 3)), nlp.make_doc(""), nlp.make_doc("a  b")]
    features = features_of(nlp, docs)
    assert [f.shape for f in features] == [(len(d), 32) for d in docs]
    assert not any(numpy.isnan(f).any() for f in features)
    assert all(numpy.abs(row).sum() > 0 for row, token in zip(features[0], docs[0]) if not token.is_space)
    space = [i for i, t in enumerate(docs[2]) if t.is_space]
    assert space and not features[2][space].any()


def test_concat_width_and_layer_choice(tiny_bert):
    concat = make_nlp(tiny_bert, layers=(-2, -1), combine="concat")
    concat.initialize()
    (model,) = pipeline_features_nodes(concat)
    assert model.get_dim("nO") == 64
    doc = concat.make_doc(TEXT)
    both = model.predict([doc])[0]
    last = make_nlp(tiny_bert, layers=(-1,), combine="mean")
    last.initialize()
    numpy.testing.assert_allclose(features_of(last, [doc])[0], both[:, 32:], rtol=1e-5, atol=1e-6)


def test_all_layers_are_the_embeddings_and_every_layer(tiny_bert):
    every = make_nlp(tiny_bert, layers="all", combine="concat")
    every.initialize()
    (model,) = pipeline_features_nodes(every)
    n_layers = encoder_features.torch_module(model.layers[0]).config.num_hidden_layers
    assert encoder_features.chosen_layers(model) == list(range(n_layers + 1))
    listed = make_nlp(tiny_bert, layers=list(range(n_layers + 1)), combine="concat")
    listed.initialize()
    doc = every.make_doc(TEXT)
    assert model.get_dim("nO") == 32 * (n_layers + 1)
    numpy.testing.assert_allclose(features_of(every, [doc])[0], features_of(listed, [doc])[0], rtol=1e-5, atol=1e-6)
    # the same features, the same cache folder
    assert encoder_features.encoder_fingerprint(model) == encoder_features.encoder_fingerprint(pipeline_features_nodes(listed)[0])


def test_cache_keys_see_tokenization():
    nlp = spacy.blank("en")
    a, b = nlp.make_doc("ATG12-knockdown cells"), nlp.make_doc("ATG12-knockdown cells")
    assert doc_key(a) == doc_key(b)
    c = spacy.tokens.Doc(nlp.vocab, words=["ATG12", "-knockdown", "cells"], spaces=[False, True, False])
    assert c.text == a.text and doc_key(c) != doc_key(a)


def test_cache_folder_sees_the_encoder_windows(tiny_bert):
    """Other windows give other features: a cache written with one must not serve the other."""
    fingerprints = []
    for window in (8, 12):
        nlp = make_nlp(tiny_bert, window=window)
        nlp.initialize()
        (model,) = pipeline_features_nodes(nlp)
        fingerprints.append(encoder_features.encoder_fingerprint(model))
    assert fingerprints[0] != fingerprints[1]


def fingerprint_of(nlp: spacy.Language) -> str:
    (model,) = pipeline_features_nodes(nlp)
    return encoder_features.encoder_fingerprint(model)


def initialized(encoder: Path, **kwargs) -> spacy.Language:
    nlp = make_nlp(encoder, **kwargs)
    nlp.initialize()
    return nlp


def test_cache_key_sees_all_that_changes_the_features(tiny_bert, tmp_path, monkeypatch):
    """The cache folder's key changes with the span getter's real arguments (also a
    functools.partial, as spacy-transformers' getters are), the tokenizer and transformer
    configs, any weight of the encoder and the pooling code's version; it stays for the same
    encoder and settings, also saved and loaded."""
    strided = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}
    base = initialized(tiny_bert, get_spans=strided)
    key = fingerprint_of(base)
    assert fingerprint_of(initialized(tiny_bert, get_spans=strided)) == key
    base.to_disk(tmp_path / "saved")
    assert fingerprint_of(spacy.load(tmp_path / "saved")) == key
    changed = {
        "window": dict(strided, window=256, stride=224),
        "stride": dict(strided, stride=64),
        "getter": {"@span_getters": "fgen.wordpiece_strided_spans.v1", "window": 128, "stride": 96},
    }
    keys = {name: fingerprint_of(initialized(tiny_bert, get_spans=get_spans)) for name, get_spans in changed.items()}
    keys["tokenizer"] = fingerprint_of(initialized(tiny_bert, get_spans=strided,
                                                   tokenizer_config={"use_fast": True, "do_lower_case": False}))
    keys["transformer"] = fingerprint_of(initialized(tiny_bert, get_spans=strided,
                                                     transformer_config={"layer_norm_eps": 1e-5}))
    other = initialized(tiny_bert, get_spans=strided)
    (model,) = pipeline_features_nodes(other)
    last = list(encoder_features.torch_module(model.layers[0]).parameters())[-1]
    with torch.no_grad():
        last.view(-1)[-1] += 1e-3  # past the first tensors and the first bytes of each
    keys["weights"] = fingerprint_of(other)
    monkeypatch.setattr(encoder_windows, "POOLING_VERSION", encoder_windows.POOLING_VERSION + 1)
    keys["pooling"] = fingerprint_of(base)
    assert len(set(keys.values()) | {key}) == len(keys) + 1, keys


def test_mixed_precision_is_the_gpu_path_and_part_of_the_cache_key(tiny_bert):
    """On CPU fp16 autocast is switched off with a warning (same features, same cache key); where
    it runs (a GPU), the key changes, so fp16 features never serve an fp32 pipeline."""
    base = initialized(tiny_bert)
    with pytest.warns(UserWarning, match="mixed_precision needs a GPU"):
        on_cpu = initialized(tiny_bert, mixed_precision=True)
    (model,) = pipeline_features_nodes(on_cpu)
    assert model.attrs["mixed_precision"] is False
    assert fingerprint_of(on_cpu) == fingerprint_of(base)
    docs = [base.make_doc(text) for text, _ in TRAIN_DATA]
    for got, expected in zip(features_of(on_cpu, docs), features_of(base, docs)):
        numpy.testing.assert_allclose(got, expected, atol=1e-6)
    model.attrs["mixed_precision"] = True  # as built with --gpu-id
    assert fingerprint_of(on_cpu) != fingerprint_of(base)


def test_bad_settings():
    with pytest.raises(ValueError, match="combine"):
        encoder_features.build_encoder_features("x", lambda docs: docs, combine="sum")
    with pytest.raises(ValueError, match="layers"):
        encoder_features.build_encoder_features("x", lambda docs: docs, layers=[])
    with pytest.raises(ValueError, match="layers"):
        encoder_features.build_encoder_features("x", lambda docs: docs, layers="last")


def test_weighted_layers_start_as_the_mean(tiny_bert):
    weighted = make_nlp(tiny_bert, combine="weighted")
    weighted.initialize()
    mean = make_nlp(tiny_bert, combine="mean")
    mean.initialize()
    doc = weighted.make_doc(TEXT)
    assert pipeline_features_nodes(weighted)[0].get_dim("nO") == 32
    numpy.testing.assert_allclose(features_of(weighted, [doc])[0], features_of(mean, [doc])[0], rtol=1e-5, atol=1e-6)


def test_weighted_layers_gradient_matches_finite_differences(tiny_bert):
    nlp = make_nlp(tiny_bert, layers=(0, -2, -1), combine="weighted")
    nlp.initialize()
    (model,) = pipeline_features_nodes(nlp)
    model.set_param("layer_weights", numpy.asarray([0.3, -0.2, 0.5], dtype="f"))
    model.set_param("scale", numpy.asarray([1.5], dtype="f"))
    docs = [nlp.make_doc(TEXT), nlp.make_doc(""), nlp.make_doc("Knockdown of ZNNT1.")]
    targets = [numpy.random.RandomState(i).normal(size=(len(d), 32)).astype("f") for i, d in enumerate(docs)]

    def loss() -> float:
        outputs = model.predict(docs)
        return float(sum((o.astype("float64") * t).sum() for o, t in zip(outputs, targets)))

    outputs, backprop = model.begin_update(docs)
    assert backprop(targets) == []  # nothing flows into the encoder
    for name in ("layer_weights", "scale"):
        analytic = model.get_grad(name).copy()
        values = model.get_param(name).copy()
        for i in range(values.shape[0]):
            shifted = []
            for step in (1e-2, -1e-2):
                moved = values.copy()
                moved[i] += step
                model.set_param(name, moved)
                shifted.append(loss())
            model.set_param(name, values)
            numpy.testing.assert_allclose(analytic[i], (shifted[0] - shifted[1]) / 2e-2, rtol=2e-2, atol=1e-2)


def test_weighted_layers_learn_and_round_trip(tiny_bert, tmp_path):
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert, with_ner=True, layers="all", combine="weighted")
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    (model,) = pipeline_features_nodes(nlp)
    assert model.get_param("layer_weights")[0] != model.get_param("layer_weights")[1]
    assert model.get_param("scale")[0] != 1.0
    docs = list(nlp.pipe([t for t, _ in TRAIN_DATA]))
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    numpy.testing.assert_array_equal(pipeline_features_nodes(loaded)[0].get_param("layer_weights"), model.get_param("layer_weights"))
    again = list(loaded.pipe([t for t, _ in TRAIN_DATA]))
    assert [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in again] == \
           [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in d.ents] for d in docs]


MIXED_LENGTHS = [" ".join([TEXT] * 3), "HeLa cells.", "", TEXT, "Knockdown of ZNNT1.", " ".join([TEXT] * 2), "a  b"]


def test_a_docs_tok2vec_output_does_not_depend_on_its_batch(tiny_bert):
    """The whole tok2vec (encoder features, hash embeddings, Maxout, BiLSTM): a doc gets the same
    vectors alone, first or last, between longer or shorter docs (padding must not reach it)."""
    nlp = make_nlp(tiny_bert)
    nlp.initialize()
    tok2vec = nlp.get_pipe("tok2vec").model
    docs = [nlp.make_doc(text) for text in MIXED_LENGTHS]
    alone = [tok2vec.predict([doc])[0] for doc in docs]
    order = numpy.random.RandomState(0).permutation(len(docs)).tolist()
    for batch in (list(range(len(docs))), order, order[::-1], [1, 0], [4, 1, 3]):
        for i, got in zip(batch, tok2vec.predict([docs[i] for i in batch])):
            numpy.testing.assert_allclose(got, alone[i], rtol=1e-4, atol=1e-5)


def test_a_docs_entities_do_not_depend_on_its_batch(trained):
    texts = [text for text, _ in TRAIN_DATA] + MIXED_LENGTHS
    alone = [trained(text) for text in texts]
    order = numpy.random.RandomState(1).permutation(len(texts)).tolist()
    for batch_size in (2, 4, len(texts)):
        docs = list(trained.pipe([texts[i] for i in order], batch_size=batch_size))
        for i, doc in zip(order, docs):
            assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == \
                   [(e.start_char, e.end_char, e.label_) for e in alone[i].ents]
            numpy.testing.assert_allclose([e._.confidence for e in doc.ents], [e._.confidence for e in alone[i].ents],
                                          rtol=1e-4, atol=1e-5)
            numpy.testing.assert_allclose(doc.tensor, alone[i].tensor, rtol=1e-4, atol=1e-5)
