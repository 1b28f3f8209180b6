"""Encoder features computed once per doc and read by several models: `fgen.shared_encoder_features.v1`.

An ensemble of taggers on the same frozen encoder (`fgen.ner_ensemble.v1`) needs the encoder's
features in every member, but running the encoder once per member would make annotation N times
slower (the encoder is most of a pipeline's inference time: docs/benchmarks.md). So the
`fgen.encoder_features.v1` layer of the shared `tok2vec` *publishes* the features it computes,
and each further member reads them through `fgen.shared_encoder_features.v1`, a layer without
weights that stores no encoder.

Features are matched by a *name* and by each doc's text and token boundaries. The name is given
when an ensemble is assembled (the signature of the encoder, layers and combination that all
members were trained on: `encoder_features.feature_signature`), stored in the publishing layer's
attrs (`shared_as`) and in each reader's config, so it survives saving, loading and fine-tuning
the encoder afterwards. A publisher keeps the features of its last two calls, and only while a
reader of its name exists in the process; a reader that finds a doc missing (e.g. components run
with different batch sizes) asks the publisher to compute it.
"""
import hashlib
from collections import deque
from typing import Callable, Deque, Dict, List, Optional, Set

import spacy
from spacy.attrs import IDX
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

# How many calls of a publisher are kept: the batch a downstream component sees may straddle two.
KEPT_CALLS = 2
# Names some reader in this process reads; publishers keep features for these only.
_READ: Set[str] = set()
# Per name: the last calls' features by doc key, newest last.
_PUBLISHED: Dict[str, Deque[Dict[str, Floats2d]]] = {}
# Per name: the layer that computed them last, to compute docs a reader finds missing (a
# strong reference: thinc models take no weak ones; it is replaced by the next publisher).
_PUBLISHERS: Dict[str, Model] = {}


def doc_key(doc: Doc) -> str:
    """The key of a doc's features: its text and where its tokens start."""
    boundaries = ",".join(map(str, doc.to_array(IDX).tolist())) if len(doc) else ""
    return hashlib.blake2b(f"{doc.text}\x00{boundaries}".encode("utf8"), digest_size=16).hexdigest()


def publish(shared_as: str, publisher: Model, docs: List[Doc], features: List[Floats2d]) -> None:
    """Keep the features `publisher` (an `fgen.encoder_features.v1` layer) computed for `docs`,
    if a reader of `shared_as` exists; either way, `publisher` computes what readers miss."""
    _PUBLISHERS[shared_as] = publisher
    if shared_as in _READ:
        calls = _PUBLISHED.setdefault(shared_as, deque(maxlen=KEPT_CALLS))
        calls.append({doc_key(doc): doc_features for doc, doc_features in zip(docs, features)})


def published_features(shared_as: str, docs: List[Doc]) -> List[Floats2d]:
    """The features published for `docs` under `shared_as`; the publisher computes those it
    no longer keeps.

    RAISES (ValueError): when some are missing and no publisher of that name is alive.
    """
    calls = list(_PUBLISHED.get(shared_as, ()))
    keys = [doc_key(doc) for doc in docs]
    found: List[Optional[Floats2d]] = [next((call[key] for call in reversed(calls) if key in call), None) for key in keys]
    missing = [i for i, features in enumerate(found) if features is None]
    if missing:
        publisher = _PUBLISHERS.get(shared_as)
        if publisher is None:
            raise ValueError(
                "fgen.shared_encoder_features.v1: no encoder features for these docs. They come from the "
                "pipeline's fgen.encoder_features.v1 layer with the same encoder and layers (in the `tok2vec` "
                "component): run that component first, in the same process (nlp.pipe and nlp() do)."
            )
        for i, features in zip(missing, publisher.predict([docs[i] for i in missing])):
            found[i] = features
    return found  # type: ignore[return-value]


@spacy.registry.architectures("fgen.shared_encoder_features.v1")
def build_shared_encoder_features(shared_as: str, width: int) -> Model[List[Doc], List[Floats2d]]:
    """Read the encoder features another `fgen.encoder_features.v1` layer computed for the same docs.

    shared_as (str): the name the features are published under: the `shared_as` attr of the
        `fgen.encoder_features.v1` layer that computes them (both set when an ensemble is assembled).
    width (int): their width (that layer's nO).
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, width) array per doc; no weights,
        and no gradient to the encoder (a fine-tuned encoder learns from the pipeline's tok2vec).
    """
    _READ.add(shared_as)
    return Model("shared_encoder_features", _forward, dims={"nO": width}, attrs={"shared_as": shared_as})


def _forward(model: Model, docs: List[Doc], is_train: bool) -> "tuple[List[Floats2d], Callable]":
    _READ.add(model.attrs["shared_as"])  # also for a copy not built by the registered function (unpickled)
    features = [model.ops.asarray2f(doc_features) for doc_features in published_features(model.attrs["shared_as"], docs)]
    return features, lambda d_features: []
