"""The model behind `fgen_values`: one score per (category, value) label for each entity span.

tok2vec -> token vectors -> the vectors of each span pooled (first, last, mean, max) ->
Maxout hidden layer -> Linear over all labels. The output is unnormalised logits; the component
masks them to the entity's own category before the softmax, so one model serves every category.
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
    pool = concatenate(
        cast(Model[Ragged, Floats2d], reduce_first()),
        cast(Model[Ragged, Floats2d], reduce_last()),
        reduce_mean(),
        reduce_max(),
    )
    hidden = Maxout(nO=hidden_width, nP=3, normalize=True, dropout=dropout)
    output = Linear(nO=nO)
    model = chain(*span_vector_layers(tok2vec, pool), hidden, output)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output)
    return model
