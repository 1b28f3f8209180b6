"""Frozen encoder features: per-token vectors from several layers of a pretrained encoder.

`fgen.encoder_features.v1` runs a Hugging Face encoder (through spacy-transformers, so any
Hugging Face name or local folder works and a trained pipeline stores the encoder's config,
tokenizer and weights) forward only, and gives each spaCy token the mean of its wordpieces'
hidden states in the chosen `layers`, concatenated, averaged, or mixed with learned weights
across layers ("weighted": softmax-normalised weights per layer and one scale, as ELMo mixes its
layers). Nothing is backpropagated into the encoder: a trainable head (e.g. a BiLSTM in
`spacy.Tok2Vec.v2`) learns on top of it at CNN speed.

spaCy would rerun the frozen encoder on every batch of every epoch. While training, the
callback `fgen.cache_encoder_features.v1` (`[training.before_update]`) turns on a cache: each
doc's features are computed once, kept in memory and, with a `cache_dir`, written to disk as
`.npy` files that later runs (other folds, other heads) read back. The cache is keyed by the
doc's text and token boundaries, within a folder named after all that changes the features
(`feature_cache.py`: the encoder's weights, configs and tokenizer, the span getter's arguments,
the layers, the pooling code's version); it holds the pooled layers side by side, whatever
`combine` is. A loaded pipeline has the cache off and computes the features itself, so it needs
no cache to run; cached and live features are the same numbers.

Two-stage training: the callback `fgen.fine_tune_encoder.v1` turns the cache off and lets the
gradient flow into the encoder (`encoder_fine_tuning.py`), to fine-tune a pipeline trained on the
frozen features (configs/pipeline_features_finetune.cfg), and drops any stored ONNX export.

Inference on ONNX Runtime: a pipeline that stores an export of its encoder
(scripts/export_onnx.py) runs it instead of PyTorch on CPU (`onnx_encoder.py`; fp32 gives the
same features within 1e-4, `FGEN_ENCODER_RUNTIME` chooses).
"""
import hashlib
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Model, torch2xp
from thinc.types import Floats2d, Floats3d

from fgen.pipeline.layers.encoder_fine_tuning import pooled_layers_with_grad
from fgen.pipeline.layers.encoder_windows import pooled_windows
from fgen.pipeline.layers.encoders import create_transformer_model, encoder_shim, torch_module
from fgen.pipeline.layers.feature_cache import FeatureCache, doc_key, encoder_key
from fgen.pipeline.layers.onnx_encoder import (
    ONNX_ATTR, active_variant, drop_onnx, onnx_hidden_states, runtime_state, session_for,
)
from fgen.pipeline.layers.model_state import ModelState, model_state
from fgen.pipeline.layers.shared_features import publish

COMBINATIONS = ("concat", "mean", "weighted")
# The attr of an `fgen.encoder_features.v1` node that holds its TrainingState.
TRAINING_ATTR = "training_state"


class TrainingState(ModelState):
    """What training turned on for one `fgen.encoder_features.v1` node: a feature cache, or
    fine-tuning of its encoder. It lives in the node's attrs, so it belongs to that model alone,
    but it never travels with it: it is not saved (`to_bytes`/`to_disk`), and a copy or a pickle
    (e.g. the pipeline sent to a worker process) starts frozen and uncached."""

    def __init__(self) -> None:
        self.cache: Optional[FeatureCache] = None
        self.fine_tuned = False


def training_state(model: Model) -> TrainingState:
    """The TrainingState of an `fgen.encoder_features.v1` node (created on first use)."""
    return model_state(model, TRAINING_ATTR, TrainingState)


def feature_cache(model: Model) -> Optional[FeatureCache]:
    """The cache turned on for `model` (an `fgen.encoder_features.v1` node), or None."""
    return training_state(model).cache


def is_fine_tuned(model: Model) -> bool:
    """Whether the encoder of `model` (an `fgen.encoder_features.v1` node) is being fine-tuned."""
    return training_state(model).fine_tuned


@spacy.registry.architectures("fgen.encoder_features.v1")
def build_encoder_features(
    name: str,
    get_spans: Callable,
    layers: Union[Sequence[int], str] = (-4, -3, -2, -1),
    combine: str = "concat",
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
) -> Model[List[Doc], List[Floats2d]]:
    """Per-token features from a frozen encoder's hidden layers.

    name (str): "fgen-default" (the offline MiniLM-L6), a Hugging Face name or a local folder.
    get_spans (Callable): the span getter that cuts docs into encoder windows.
    layers (Union[Sequence[int], str]): hidden-state indices (0 = embeddings, -1 = last layer), or
        "all": the embeddings and every layer, however many the encoder has.
    combine (str): "concat" the layers (width n_layers x hidden), take their "mean" (hidden), or
        their "weighted" mean (hidden), with weights learned in training (starting as the mean).
    tokenizer_config (dict): settings for the Hugging Face tokenizer.
    transformer_config (dict): settings for the Hugging Face model config.
    mixed_precision (bool): run the PyTorch encoder under fp16 autocast: the GPU path of the
        frozen encoder (`spacy train/apply --gpu-id N`); switched off with a warning on CPU, where
        ONNX Runtime is the fast path (onnx_encoder.py). Part of the feature cache's key.
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, width) array per doc.
    """
    if combine not in COMBINATIONS:
        raise ValueError(f"combine must be one of {', '.join(COMBINATIONS)}, not {combine!r}")
    if isinstance(layers, str) and layers != "all":
        raise ValueError(f'layers must be a list of hidden-state indices or "all", not {layers!r}')
    if not layers:
        raise ValueError("layers: name at least one hidden layer")
    encoder = create_transformer_model(
        name,
        get_spans,
        tokenizer_config=tokenizer_config,
        transformer_config={**transformer_config, "output_hidden_states": True},
        mixed_precision=mixed_precision,
    )
    fp16 = bool(encoder_shim(encoder)._mixed_precision)  # False when switched off on CPU
    # Only "weighted" has parameters, so pipelines trained with the other two load as before.
    params = {"layer_weights": None, "scale": None} if combine == "weighted" else {}
    return Model(
        "encoder_features",
        forward,
        init=init,
        layers=[encoder],
        dims={"nO": None},
        params=params,
        attrs={"name": name, "layers": layers if isinstance(layers, str) else list(layers), "combine": combine,
               # for the cache key (the encoder itself keeps them only until it is saved)
               "tokenizer_config": dict(tokenizer_config), "transformer_config": dict(transformer_config),
               "mixed_precision": fp16},
    )


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    encoder = model.layers[0]
    encoder.initialize(X=X)
    hidden = hidden_width(encoder)
    n_layers = len(chosen_layers(model))
    model.set_dim("nO", hidden * n_layers if model.attrs["combine"] == "concat" else hidden)
    if model.attrs["combine"] == "weighted":
        # Equal weights and scale 1: training starts from the plain mean.
        model.set_param("layer_weights", model.ops.alloc1f(n_layers))
        model.set_param("scale", model.ops.asarray1f([1.0]))
    return model


def chosen_layers(model: Model) -> List[int]:
    """The hidden-state indices an `fgen.encoder_features.v1` model pools ("all" resolved)."""
    if model.attrs["layers"] == "all":
        return list(range(torch_module(model.layers[0]).config.num_hidden_layers + 1))
    return list(model.attrs["layers"])


def hidden_width(encoder: Model) -> int:
    """The hidden size of an initialized spacy-transformers model."""
    return int(encoder.get_dim("nO"))


def forward(model: Model, docs: List[Doc], is_train: bool):
    backprop_encoder = None
    if is_train and is_fine_tuned(model):
        layers, backprop_encoder = pooled_layers_with_grad(model.layers[0], docs, chosen_layers(model))
    else:
        layers = cached_or_pooled_layers(model, docs)
    outputs, backprop_combine = combine_layers(model, layers, backprop_encoder is not None)
    if model.attrs.get("shared_as"):  # set when an ensemble's members read these features
        publish(model.attrs["shared_as"], docs, outputs)

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_layers = backprop_combine(d_outputs)
        if backprop_encoder is not None:
            backprop_encoder(d_layers)
        return []  # nothing below the encoder

    return outputs, backprop


def cached_or_pooled_layers(model: Model, docs: List[Doc]) -> List[Floats2d]:
    """Each doc's pooled layers without gradient: from the cache when it is on and has them."""
    cache = feature_cache(model)
    layers: List[Optional[Floats2d]] = [None] * len(docs)
    keys = [doc_key(doc) for doc in docs] if cache is not None else []
    missing = []
    for i, doc in enumerate(docs):
        found = cache.get(keys[i]) if cache is not None else None
        if found is None:
            missing.append(i)
        else:
            layers[i] = model.ops.asarray2f(found)
    if missing:
        computed = pooled_layers(model, [docs[i] for i in missing])
        for i, features in zip(missing, computed):
            layers[i] = features
            if cache is not None:
                cache.put(keys[i], model.ops.to_numpy(features))
    return layers


def by_layer(model: Model, features: Floats2d) -> Floats3d:
    """One doc's pooled layers side by side, as (n_tokens, n_layers, hidden)."""
    # The width gives the number of layers: no need to resolve "all" for every doc.
    hidden = hidden_width(model.layers[0])
    return features.reshape(features.shape[0], features.shape[1] // hidden, hidden)


def combine_layers(model: Model, layers: List[Floats2d], with_d_layers: bool = False):
    """Each doc's pooled layers combined as the node's `combine` says, and the backprop: the
    gradient of the pooled layers when `with_d_layers` (the encoder is fine-tuned), else None."""
    if model.attrs["combine"] == "weighted":
        return combine_layers_weighted(model, layers, with_d_layers)
    return combine_layers_unweighted(model, layers, with_d_layers)


def combine_layers_unweighted(model: Model, layers: List[Floats2d], with_d_layers: bool = False):
    """The "concat" or "mean" combination of each doc's pooled layers (what the cache holds), and
    its backprop: the gradient of the pooled layers when `with_d_layers` (the encoder is
    fine-tuned), else None."""
    if model.attrs["combine"] == "concat":
        return layers, lambda d_outputs: d_outputs if with_d_layers else None
    stacked = [by_layer(model, features) for features in layers]
    outputs = [doc.mean(axis=1) for doc in stacked]

    def backprop(d_outputs: List[Floats2d]) -> Optional[List[Floats2d]]:
        if not with_d_layers:
            return None
        # Each layer gets 1 / n_layers of the gradient, laid out like the layers side by side.
        return [model.ops.xp.tile(d_out / doc.shape[1], (1, doc.shape[1])) for doc, d_out in zip(stacked, d_outputs)]

    return outputs, backprop


def combine_layers_weighted(model: Model, layers: List[Floats2d], with_d_layers: bool = False):
    """The "weighted" combination of each doc's layers, and its backprop into the mixing weights;
    it returns the gradient of the pooled layers when `with_d_layers`, else None."""
    xp = model.ops.xp
    weights = model.ops.softmax(model.get_param("layer_weights"))
    scale = float(model.get_param("scale")[0])
    stacked = [by_layer(model, features) for features in layers]
    outputs = [xp.einsum("tlh,l->th", doc, weights * scale) for doc in stacked]

    def backprop(d_outputs: List[Floats2d]) -> Optional[List[Floats2d]]:
        # d(output)/d(weight l) = scale * layer l; d(output)/d(scale) = the unscaled mix.
        d_weights = model.ops.alloc1f(weights.shape[0])
        for doc, d_out in zip(stacked, d_outputs):
            d_weights += xp.einsum("tlh,th->l", doc, d_out)
        d_scale = float((d_weights * weights).sum())
        d_weights *= scale
        # Softmax backward: d_param = weights * (d_weights - <weights, d_weights>).
        model.inc_grad("layer_weights", weights * (d_weights - (weights * d_weights).sum()))
        model.inc_grad("scale", model.ops.asarray1f([d_scale]))
        if not with_d_layers:
            return None
        n_layers = weights.shape[0]
        return [xp.einsum("th,l->tlh", d_out, weights * scale).reshape(d_out.shape[0], n_layers * d_out.shape[1])
                .astype("float32") for d_out in d_outputs]

    return outputs, backprop


def pooled_layers(model: Model, docs: List[Doc]) -> List[Floats2d]:
    """Run the encoder (no gradient) and pool each chosen layer per spaCy token; the layers are
    concatenated, (n_tokens, n_layers x hidden) per doc (windows of similar length share an
    encoder call: see encoder_windows.py). On ONNX Runtime when the node stores an exported
    encoder and the runtime choice allows it (onnx_encoder.py).
    """
    layers = chosen_layers(model)
    variant = active_variant(model)
    run = None
    if variant is not None:
        session, n_hidden = session_for(model, variant), model.attrs[ONNX_ATTR]["n_hidden"]
        shared = runtime_state(model).shared_inputs
        run = lambda wordpieces: onnx_hidden_states(session, wordpieces, layers, n_hidden, shared)  # noqa: E731
    pooled = pooled_windows(model.layers[0], docs, layers, hidden_states=run)
    width = hidden_width(model.layers[0]) * len(chosen_layers(model))
    return [model.ops.asarray2f(torch2xp(doc)) if doc.shape[0] else model.ops.alloc2f(0, width) for doc in pooled]


def encoder_fingerprint(model: Model) -> str:
    """Which features a model caches (the name of its cache folder): everything that changes a
    doc's pooled layers (feature_cache.encoder_key); one cache serves every `combine`, since it
    holds the layers side by side."""
    configs = {key: model.attrs.get(key, {}) for key in ("tokenizer_config", "transformer_config")}
    if model.attrs.get("mixed_precision"):  # fp16 features are other numbers (no key change without it)
        configs["mixed_precision"] = True
    return encoder_key(model.attrs["name"], chosen_layers(model), configs, model.layers[0], torch_module(model.layers[0]))


def feature_signature(model: Model) -> str:
    """What an `fgen.encoder_features.v1` layer outputs: its encoder's fingerprint, the
    combination of the layers and, for "weighted", the learned weights. Layers with the same
    signature give the same features, so one can compute them for the others: an ensemble's
    members (`fgen.shared_encoder_features.v1`).
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{encoder_fingerprint(model)}:{model.attrs['combine']}".encode("utf8"))
    for name in ("layer_weights", "scale"):
        if model.has_param(name):
            digest.update(model.ops.to_numpy(model.get_param(name)).tobytes())
    return digest.hexdigest()


def features_nodes(model: Model) -> List[Model]:
    """Every `fgen.encoder_features.v1` node in a model."""
    return [node for node in model.walk() if node.name == "encoder_features"]


def features_node(model: Model) -> Model:
    """The one `fgen.encoder_features.v1` node of a model (e.g. a tok2vec's).

    RAISES (ValueError): the model has none, or more than one.
    """
    found = features_nodes(model)
    if len(found) != 1:
        raise ValueError(f"Expected one fgen.encoder_features.v1 layer in the tok2vec model, found {len(found)}")
    return found[0]


def pipeline_features_nodes(nlp: Language) -> List[Model]:
    """Every `fgen.encoder_features.v1` node in the pipeline's component models."""
    return [node for _, proc in nlp.pipeline if isinstance(getattr(proc, "model", None), Model)
            for node in features_nodes(proc.model)]


def enable_cache(model: Model, cache_dir: Optional[Union[str, Path]] = None) -> FeatureCache:
    """Cache the features of `model` (an `fgen.encoder_features.v1` node) from now on.

    cache_dir (Optional[str / Path]): keep them on disk too, in a subfolder named after the
        encoder's fingerprint; None: in memory only.
    RETURNS (FeatureCache): the cache.
    """
    directory = Path(cache_dir) / encoder_fingerprint(model) if cache_dir else None
    cache = training_state(model).cache = FeatureCache(directory)
    return cache


def disable_cache(model: Model) -> None:
    """Compute the features of `model` live again (and free its cache)."""
    training_state(model).cache = None


def enable_fine_tuning(model: Model) -> None:
    """Fine-tune the encoder of `model` (an `fgen.encoder_features.v1` node) from now on.

    Training passes run the encoder with gradient and dropout, and the optimizer updates its
    weights; the cache is turned off, since the features change with every update. Prediction
    is unchanged (no gradient, no dropout), and so is a saved pipeline: it stores the weights.
    """
    disable_cache(model)
    drop_onnx(model)  # exported from the weights that fine-tuning changes
    training_state(model).fine_tuned = True


def disable_fine_tuning(model: Model) -> None:
    """Keep the encoder of `model` frozen again."""
    training_state(model).fine_tuned = False


@spacy.registry.callbacks("fgen.cache_encoder_features.v1")
def create_cache_callback(cache_dir: Optional[str] = None) -> Callable[[Language, dict], None]:
    """A `[training.before_update]` callback: cache the frozen encoder features while training.

    cache_dir (Optional[str]): a folder for the features on disk (shared by runs on the same
        corpus and encoder), or None to cache in memory only.
    RETURNS (Callable[[Language, dict], None]): the callback; it turns the cache on once.
    """

    def before_update(nlp: Language, info: dict) -> None:
        for model in pipeline_features_nodes(nlp):
            if feature_cache(model) is None and not is_fine_tuned(model):
                enable_cache(model, cache_dir)

    return before_update


@spacy.registry.callbacks("fgen.fine_tune_encoder.v1")
def create_fine_tune_callback() -> Callable[[Language, dict], None]:
    """A `[training.before_update]` callback: fine-tune the encoder under every
    `fgen.encoder_features.v1` of the pipeline together with the rest (two-stage training's
    second stage, on components sourced from a pipeline trained on the frozen features).

    RETURNS (Callable[[Language, dict], None]): the callback; it turns fine-tuning on once.
    """

    def before_update(nlp: Language, info: dict) -> None:
        for model in pipeline_features_nodes(nlp):
            if not is_fine_tuned(model):
                enable_fine_tuning(model)

    return before_update
