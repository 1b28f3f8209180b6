"""Fine-tuning the encoder under `fgen.encoder_features.v1`: the second stage of two-stage training.

The frozen path runs the encoder without gradient; while the encoder is fine-tuned, it runs in
training mode (dropout on) with PyTorch's autograd, through the same windows and pooling
(encoder_windows.py), and the gradient of the pooled layers flows back into the encoder's weights; `Model.finish_update` then updates them
through the encoder's PyTorch shim with the pipeline's optimizer, like any PyTorch layer.

spacy-transformers backpropagates the last hidden state only; pooling several layers needs the
gradient of each, so the backward pass is run here rather than through its model's backprop.
"""
from typing import Callable, List, Sequence, Tuple

import torch
from spacy.tokens import Doc
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import Floats2d

from fgen.pipeline.layers.encoder_windows import pooled_windows


def pooled_layers_with_grad(
    encoder: Model, docs: List[Doc], layers: Sequence[int]
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], None]]:
    """Run a spacy-transformers encoder in training mode and pool `layers` per spaCy token.

    encoder (TransformerModel): the encoder, built with `output_hidden_states`.
    docs (List[Doc]): the batch.
    layers (Sequence[int]): hidden-state indices, pooled side by side in this order.
    RETURNS (Tuple[List[Floats2d], Callable]): one (n_tokens, n_layers x hidden) array per doc, the
        same numbers as the frozen path's pooling when dropout is off; and a callback that takes
        their gradients and accumulates the encoder's parameter gradients.
    """
    ops = encoder.ops
    width = int(encoder.get_dim("nO")) * len(layers)
    outputs: List[Floats2d] = [ops.alloc2f(0, width) for _ in docs]
    nonempty = [i for i, doc in enumerate(docs) if len(doc)]
    if not nonempty:
        return outputs, lambda d_layers: None
    pooled = pooled_windows(encoder, [docs[i] for i in nonempty], layers, is_train=True)
    for i, part in zip(nonempty, pooled):
        outputs[i] = ops.asarray2f(torch2xp(part.detach()))
    device = pooled[0].device

    def backprop(d_layers: List[Floats2d]) -> None:
        torch.autograd.backward(pooled, grad_tensors=[xp2torch(ops.asarray2f(d_layers[i]), device=device) for i in nonempty])

    return outputs, backprop
