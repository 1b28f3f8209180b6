"""Pooled span vectors over a tok2vec: the shared front of fgen's span-level models."""
from typing import List, Tuple, cast

from spacy.ml.extract_spans import extract_spans
from spacy.tokens import Doc
from thinc.api import Model, chain, list2ragged, with_getitem
from thinc.types import Floats2d, Ragged


def span_vector_layers(tok2vec: Model[List[Doc], List[Floats2d]], pool: Model[Ragged, Floats2d]) -> List[Model]:
    """The layers that make one vector per span: the token vectors of each span reduced by `pool`.

    Chained, they take the docs and a Ragged of (start, end) token offsets (lengths = spans per
    doc) and return one row per span. A list, not a chain, so a model can splice them into its
    own chain: the saved structure of `fgen.value_model.v1` stays what it was.

    tok2vec (Model[List[Doc], List[Floats2d]]): token vectors, own or a listener.
    pool (Model[Ragged, Floats2d]): e.g. `concatenate(reduce_mean(), reduce_max())`.
    RETURNS (List[Model]): the layers, in order.
    """
    docs_to_ragged = cast(
        Model[Tuple[List[Doc], Ragged], Tuple[Ragged, Ragged]],
        with_getitem(0, chain(tok2vec, cast(Model[List[Floats2d], Ragged], list2ragged()))),
    )
    return [docs_to_ragged, extract_spans(), pool]


def span_vectors(tok2vec: Model[List[Doc], List[Floats2d]], pool: Model[Ragged, Floats2d]) -> Model[Tuple[List[Doc], Ragged], Floats2d]:
    """`span_vector_layers` chained into one model: (docs, spans) -> one row per span."""
    return chain(*span_vector_layers(tok2vec, pool))
