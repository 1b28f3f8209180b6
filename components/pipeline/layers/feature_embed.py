"""`fgen.feature_embed.v1`: frozen encoder features and spaCy's hash embeddings, as one embedding.

The pretrained encoder brings context and meaning; the hash embeddings (NORM, PREFIX, SUFFIX,
SHAPE) bring what an uncased wordpiece model loses or splits apart: case and the shape of gene
names, numbers and symbols. Both are concatenated per token and mixed by a Maxout layer into
`width` dimensions, the input of a contextual encoder such as `fgen.bilstm_encoder.v1`.
"""
from typing import List

import spacy
from spacy.tokens import Doc
from thinc.api import Dropout, Maxout, Model, chain, concatenate, with_array
from thinc.types import Floats2d


@spacy.registry.architectures("fgen.feature_embed.v1")
def build_feature_embed(
    features: Model[List[Doc], List[Floats2d]],
    hash_embed: Model[List[Doc], List[Floats2d]],
    width: int,
    feature_dropout: float = 0.1,
    maxout_pieces: int = 3,
) -> Model[List[Doc], List[Floats2d]]:
    """Concatenate encoder features (after dropout) and hash embeddings, then Maxout to `width`.

    features (Model[List[Doc], List[Floats2d]]): e.g. `fgen.encoder_features.v1`.
    hash_embed (Model[List[Doc], List[Floats2d]]): e.g. `spacy.MultiHashEmbed.v2`.
    width (int): the output width.
    feature_dropout (float): dropout on the encoder features (they are many and frozen: the
        head overfits them easily).
    maxout_pieces (int): pieces of the Maxout layer.
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, width) array per doc.
    """
    model = chain(
        concatenate(chain(features, with_array(Dropout(feature_dropout))), hash_embed),
        with_array(Maxout(width, nP=maxout_pieces, normalize=True)),
    )
    model.set_dim("nO", width)
    model.set_ref("features", features)
    return model
