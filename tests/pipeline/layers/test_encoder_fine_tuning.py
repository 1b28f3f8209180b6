"""Fine-tuning the encoder under fgen.encoder_features.v1 (two-stage training's second stage),
on the tiny random BERT of test_encoder_features."""
import numpy
import pytest
import torch
from thinc.api import fix_random_seed

import fgen  # noqa: F401
from fgen.pipeline.layers import encoder_features
from fgen.pipeline.layers.encoder_features import (
    create_cache_callback, create_fine_tune_callback, disable_fine_tuning, enable_fine_tuning, pipeline_features_nodes,
    torch_module,
)

from ...conftest import TEXT
from .test_encoder_features import (  # noqa: F401 (tiny_bert: a fixture)
    assert_overfits_and_round_trips, examples_for, make_nlp, tiny_bert,
)

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def fine_tuned_model(nlp):
    (model,) = pipeline_features_nodes(nlp)
    enable_fine_tuning(model)
    return model


@pytest.mark.parametrize("combine", ["concat", "mean", "weighted"])
def test_fine_tuned_features_equal_the_frozen_ones_without_dropout(tiny_bert, combine):
    nlp = make_nlp(tiny_bert, layers=(0, -1), combine=combine, transformer_config=NO_DROPOUT)
    nlp.initialize()
    docs = [nlp.make_doc(" ".join([TEXT] * 2)), nlp.make_doc(""), nlp.make_doc("a  b"), nlp.make_doc("Knockdown of ZNNT1.")]
    model = fine_tuned_model(nlp)
    try:
        frozen = model.predict(docs)
        tuned, backprop = model.begin_update(docs)
        assert backprop([numpy.ones_like(t) for t in tuned]) == []
    finally:
        disable_fine_tuning(model)
    assert [t.shape for t in tuned] == [f.shape for f in frozen]
    for a, b in zip(tuned, frozen):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("combine", ["mean", "weighted"])
def test_encoder_gradient_matches_finite_differences(tiny_bert, combine):
    """The gradient that reaches an encoder weight through the pooling and the layer combination."""
    nlp = make_nlp(tiny_bert, layers=(0, -2, -1), combine=combine, transformer_config=NO_DROPOUT)
    nlp.initialize()
    model = fine_tuned_model(nlp)
    if combine == "weighted":
        model.set_param("layer_weights", numpy.asarray([0.3, -0.2, 0.5], dtype="f"))
        model.set_param("scale", numpy.asarray([1.5], dtype="f"))
    docs = [nlp.make_doc(TEXT), nlp.make_doc(""), nlp.make_doc("Knockdown of ZNNT1.")]
    targets = [numpy.random.RandomState(i).normal(size=(len(d), 32)).astype("f") for i, d in enumerate(docs)]
    bert = torch_module(model.layers[0])
    # An embedding row that the docs use (layer 0) and a weight inside the last layer.
    used = int(model.layers[0].tokenizer("knockdown", add_special_tokens=False)["input_ids"][0])
    probes = [(bert.embeddings.word_embeddings.weight, (used, 3)),
              (bert.encoder.layer[-1].output.dense.weight, (5, 7))]
    try:
        outputs, backprop = model.begin_update(docs)
        backprop(targets)
        for weight, index in probes:
            analytic = float(weight.grad[index])
            assert analytic != 0.0
            shifted = []
            for step in (1e-2, -1e-2):
                with torch.no_grad():
                    weight[index] += step
                shifted.append(sum(float((o.astype("float64") * t).sum()) for o, t in zip(model.predict(docs), targets)))
                with torch.no_grad():
                    weight[index] -= step
            numpy.testing.assert_allclose(analytic, (shifted[0] - shifted[1]) / 2e-2, rtol=3e-2, atol=1e-3)
    finally:
        disable_fine_tuning(model)
        bert.zero_grad()


def test_fine_tuning_updates_the_encoder_and_round_trips(tiny_bert, tmp_path):
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert, with_ner=True, combine="mean")
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    (model,) = pipeline_features_nodes(nlp)
    bert = torch_module(model.layers[0])
    before = {name: tensor.clone() for name, tensor in bert.state_dict().items()}
    cache_callback, fine_tune = create_cache_callback(None), create_fine_tune_callback()
    losses = []
    try:
        for step in range(60):
            fine_tune(nlp, {"step": step})
            cache_callback(nlp, {"step": step})  # never caches a fine-tuned encoder
            assert encoder_features.feature_cache(model) is None
            losses.append(nlp.update(examples, sgd=optimizer, losses={})["fgen_ner"])
    finally:
        disable_fine_tuning(model)
    assert losses[-1] < losses[0] / 5
    changed = [name for name, tensor in bert.state_dict().items() if not torch.equal(tensor, before[name])]
    assert any("encoder.layer" in name for name in changed) and any("embeddings" in name for name in changed)
    loaded = assert_overfits_and_round_trips(nlp, tmp_path / "model")
    (loaded_model,) = pipeline_features_nodes(loaded)
    assert not encoder_features.is_fine_tuned(loaded_model)
    for name, tensor in torch_module(loaded_model.layers[0]).state_dict().items():
        assert torch.equal(tensor, bert.state_dict()[name]), name
