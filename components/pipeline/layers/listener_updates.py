"""Keeping a shared encoder's update going when a component has nothing to learn from a batch."""
from typing import List

from spacy.tokens import Doc
from thinc.api import Model


def backprop_nothing(tok2vec: Model, docs: List[Doc]) -> None:
    """Run `tok2vec` over the batch and pass back zero gradients.

    A shared tok2vec or transformer backpropagates the gradients its listeners passed back
    only when its *last* listener passes its own. A component that skips a batch (no
    link-annotated doc, no entity) must still pass one, or the encoder silently learns nothing
    from that batch, whatever the other components sent it.

    tok2vec (Model): the component's token-vector layer (a listener or its own).
    docs (List[Doc]): the whole batch, as the upstream component saw it.
    """
    if not docs:
        return
    outputs, backprop = tok2vec.begin_update(docs)
    backprop([tok2vec.ops.alloc2f(*out.shape) for out in outputs])
