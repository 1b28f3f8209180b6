"""Encoder features computed once per doc and read by several models: `fgen.shared_encoder_features.v1`.

An ensemble of taggers on the same frozen encoder (`fgen.ner_ensemble.v1`) needs the encoder's
features in every member, but running the encoder once per member would make annotation N times
slower (the encoder is most of a pipeline's inference time: docs/benchmarks.md). So the
`fgen.encoder_features.v1` layer of the shared `tok2vec` *publishes* the features it computes,
and each further member reads them through `fgen.shared_encoder_features.v1`, a layer without
weights that stores no encoder.

The features travel on the Doc, as spacy-transformers keeps its output in `doc._.trf_data`: the
publisher puts each doc's features on the doc under a *name*, and the readers of that name read
them from the same doc. The name is given when an ensemble is assembled (the signature of the
encoder, layers and combination that all members were trained on:
`encoder_features.feature_signature`), stored in the publishing layer's attrs (`shared_as`) and in
each reader's config, so it survives saving, loading and fine-tuning the encoder afterwards. A
doc only passes through the pipeline that made it, so two pipelines in one process (e.g. an
ensemble and its fine-tuned copy) never read each other's features, and component batch sizes
do not matter. Nothing is kept in the process.

The features live in `doc.user_hooks`, which `Doc.to_bytes`, `DocBin` and spaCy's worker
processes do not serialize, so they never reach an output; the ensemble drops them from the doc
once its members have read them (`forget_shared_features`).
"""
from typing import Callable, Iterable, List

import spacy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

_HOOK_PREFIX = "fgen.shared_encoder_features:"


def _hook(shared_as: str) -> str:
    return _HOOK_PREFIX + shared_as


def publish(shared_as: str, docs: Iterable[Doc], features: Iterable[Floats2d]) -> None:
    """Put each doc's features on the doc, for the readers of `shared_as`.

    shared_as (str): the name the readers read.
    docs (Iterable[Doc]): the docs the features were computed for.
    features (Iterable[Floats2d]): one (n_tokens, width) array per doc.
    """
    for doc, doc_features in zip(docs, features):
        doc.user_hooks[_hook(shared_as)] = doc_features


def published_features(shared_as: str, docs: List[Doc]) -> List[Floats2d]:
    """The features published on `docs` under `shared_as`.

    RAISES (ValueError): when a doc has none (or has been retokenized since).
    """
    found = [doc.user_hooks.get(_hook(shared_as)) for doc in docs]
    if any(features is None or features.shape[0] != len(doc) for doc, features in zip(docs, found)):
        raise ValueError(
            "fgen.shared_encoder_features.v1: no encoder features for these docs. They come from the "
            "pipeline's fgen.encoder_features.v1 layer with the same encoder and layers (in the `tok2vec` "
            "component): run that component first, on the same docs (nlp.pipe and nlp() do)."
        )
    return found  # type: ignore[return-value]


def has_shared_features(doc: Doc) -> bool:
    """Whether features published for some reader are still on `doc`."""
    return any(isinstance(key, str) and key.startswith(_HOOK_PREFIX) for key in doc.user_hooks)


def forget_shared_features(docs: Iterable[Doc], names: Iterable[str]) -> None:
    """Drop the features published under `names` from `docs` (once every reader has read them)."""
    hooks = [_hook(name) for name in names]
    for doc in docs:
        for hook in hooks:
            doc.user_hooks.pop(hook, None)


def reader_names(model: Model) -> List[str]:
    """The names the `fgen.shared_encoder_features.v1` layers in `model` read."""
    return sorted({node.attrs["shared_as"] for node in model.walk() if node.name == "shared_encoder_features"})


@spacy.registry.architectures("fgen.shared_encoder_features.v1")
def build_shared_encoder_features(shared_as: str, width: int) -> Model[List[Doc], List[Floats2d]]:
    """Read the encoder features another `fgen.encoder_features.v1` layer computed for the same docs.

    shared_as (str): the name the features are published under: the `shared_as` attr of the
        `fgen.encoder_features.v1` layer that computes them (both set when an ensemble is assembled).
    width (int): their width (that layer's nO).
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, width) array per doc; no weights,
        and no gradient to the encoder (a fine-tuned encoder learns from the pipeline's tok2vec).
    """
    return Model("shared_encoder_features", _forward, dims={"nO": width}, attrs={"shared_as": shared_as})


def _forward(model: Model, docs: List[Doc], is_train: bool) -> "tuple[List[Floats2d], Callable]":
    features = [model.ops.asarray2f(doc_features) for doc_features in published_features(model.attrs["shared_as"], docs)]
    return features, lambda d_features: []
