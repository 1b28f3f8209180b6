"""The models behind `fgen_values`: one score per (category, value) label for each entity span.

v1: tok2vec -> token vectors -> the vectors of each span pooled (first, last, mean, max) ->
Maxout hidden layer -> Linear over all labels. v2: the same, with the model's own word
embeddings concatenated to the token vectors before pooling. The output is unnormalised
logits; the component masks them to the entity's own category before the softmax, so one model
serves every category.
"""
from typing import List, Optional, Tuple, cast

import spacy
from spacy.tokens import Doc
from thinc.api import (
    Linear,
    Maxout,
    Model,
    chain,
    concatenate,
    reduce_first,
    reduce_last,
    reduce_max,
    reduce_mean,
)
from thinc.types import Floats2d, Ragged

from fgen.pipeline.layers.span_pooling import span_vector_layers


def _span_pool() -> Model[Ragged, Floats2d]:
    """First, last, mean and max of a span's token vectors, side by side."""
    return concatenate(
        cast(Model[Ragged, Floats2d], reduce_first()),
        cast(Model[Ragged, Floats2d], reduce_last()),
        reduce_mean(),
        reduce_max(),
    )


def concatenate_token_vectors(
    first: Model[List[Doc], List[Floats2d]], second: Model[List[Doc], List[Floats2d]]
) -> Model[List[Doc], List[Floats2d]]:
    """Both models' token vectors side by side, per doc.

    thinc's `concatenate` sums the input gradients of its layers, which fails for docs (a
    transformer listener returns None for them); docs get no gradient, so this layer only
    splits the output gradient between the two models.
    """
    return Model(
        "concatenate_token_vectors", _concatenate_forward, layers=[first, second], init=_concatenate_init, dims={"nO": None}
    )


def _concatenate_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    for layer in model.layers:
        layer.initialize(X=X)
    if all(layer.has_dim("nO") for layer in model.layers):
        model.set_dim("nO", sum(layer.get_dim("nO") for layer in model.layers))
    return model


def _concatenate_forward(model: Model, docs: List[Doc], is_train: bool):
    first, second = model.layers
    Y1, backprop1 = first(docs, is_train)
    Y2, backprop2 = second(docs, is_train)
    Y = [model.ops.xp.hstack((y1, y2)) for y1, y2 in zip(Y1, Y2)]
    widths = [y1.shape[1] for y1 in Y1]

    def backprop(dY: List[Floats2d]) -> List[Doc]:
        backprop1([dy[:, :w] for dy, w in zip(dY, widths)])
        backprop2([dy[:, w:] for dy, w in zip(dY, widths)])
        return []

    return Y, backprop


def _value_head(hidden_width: int, dropout: float, nO: Optional[int]) -> List[Model]:
    """Maxout hidden layer and the output Linear over all labels (the last layer)."""
    return [Maxout(nO=hidden_width, nP=3, normalize=True, dropout=dropout), Linear(nO=nO)]


@spacy.registry.architectures("fgen.value_model.v1")
def build_value_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 128,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[Tuple[List[Doc], Ragged], Floats2d]:
    """Build the entity-value scorer.

    tok2vec (Model[List[Doc], List[Floats2d]]): token vectors, own or a listener to a shared one.
    hidden_width (int): width of the Maxout layer over the pooled span vector.
    dropout (float): dropout rate of the hidden layer.
    nO (Optional[int]): number of (category, value) labels; set by the component on initialize.
    RETURNS (Model[Tuple[List[Doc], Ragged], Floats2d]): takes the docs and a Ragged of
        (start, end) token offsets (one row per span, lengths = spans per doc) and returns one row
        of logits per span.
    """
    model = chain(*span_vector_layers(tok2vec, _span_pool()), *_value_head(hidden_width, dropout, nO))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", model.layers[-1])
    return model


@spacy.registry.architectures("fgen.value_model.v2")
def build_lexical_value_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    lexical: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 128,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[Tuple[List[Doc], Ragged], Floats2d]:
    """Build the entity-value scorer on the shared token vectors plus the value model's own
    embeddings of the words.

    A value is mostly decided by the entity's own words ("promotes" is positive, "proliferation"
    is proliferation). A shared tok2vec is shaped mainly by the entity tagger, which learns to
    treat all words of one category alike, so `fgen.value_model.v1` on it can lose exactly what
    the value needs. Here each token vector is the shared one concatenated with `lexical`, an
    embedding only this model trains, before the same span pooling as v1.

    tok2vec (Model[List[Doc], List[Floats2d]]): token vectors, own or a listener to a shared one.
    lexical (Model[List[Doc], List[Floats2d]]): the model's own token embeddings, e.g.
        `spacy.MultiHashEmbed.v2` over NORM, PREFIX, SUFFIX and SHAPE.
    hidden_width (int): width of the Maxout layer over the pooled span vector.
    dropout (float): dropout rate of the hidden layer.
    nO (Optional[int]): number of (category, value) labels; set by the component on initialize.
    RETURNS (Model[Tuple[List[Doc], Ragged], Floats2d]): as `fgen.value_model.v1`.
    """
    token_vectors = concatenate_token_vectors(tok2vec, lexical)
    model = chain(*span_vector_layers(token_vectors, _span_pool()), *_value_head(hidden_width, dropout, nO))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("lexical", lexical)
    model.set_ref("output_layer", model.layers[-1])
    return model
