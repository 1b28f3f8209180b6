"""Fine-tuning the encoder under `fgen.encoder_features.v1`: the second stage of two-stage training.

The frozen path runs the encoder without gradient and pools each token's wordpieces with thinc
ops. While the encoder is fine-tuned, it runs in training mode (dropout on) with PyTorch's
autograd, the same pooling happens in PyTorch over the whole batch, and the gradient of the
pooled layers flows back into the encoder's weights; `Model.finish_update` then updates them
through the encoder's PyTorch shim with the pipeline's optimizer, like any PyTorch layer.

spacy-transformers backpropagates the last hidden state only; pooling several layers needs the
gradient of each, so the backward pass is run here rather than through its model's backprop.
"""
from typing import Callable, List, Sequence, Tuple

import torch
from spacy.tokens import Doc
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import Floats2d


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
    # Its backprop is not used (last hidden state only): the graph is kept by autograd.
    batch, _ = encoder([docs[i] for i in nonempty], is_train=True)
    hidden = batch.model_output["hidden_states"]
    wordpieces = torch.cat([hidden[layer].reshape(-1, hidden[layer].shape[-1]) for layer in layers], dim=1).float()
    device = wordpieces.device
    # batch.align maps the tokens of all docs, in order, to positions in the flattened windows.
    index = torch.as_tensor(ops.to_numpy(batch.align.data).ravel(), dtype=torch.long, device=device)
    lengths = torch.as_tensor(ops.to_numpy(batch.align.lengths), dtype=torch.long, device=device)
    sizes = [len(docs[i]) for i in nonempty]
    if lengths.shape[0] != sum(sizes):
        raise ValueError(f"The encoder's windows cover {lengths.shape[0]} of the batch's {sum(sizes)} tokens: "
                         "fine-tuning needs a span getter that covers every token")
    rows = torch.repeat_interleave(torch.arange(lengths.shape[0], device=device), lengths)
    summed = wordpieces.new_zeros((lengths.shape[0], wordpieces.shape[1])).index_add_(0, rows, wordpieces[index])
    # A token without wordpieces (whitespace) keeps zeros, as in the frozen path.
    pooled = summed / lengths.clamp(min=1).unsqueeze(1).to(summed.dtype)
    for i, part in zip(nonempty, torch.split(pooled.detach(), sizes)):
        outputs[i] = ops.asarray2f(torch2xp(part))

    def backprop(d_layers: List[Floats2d]) -> None:
        d_pooled = ops.xp.vstack([ops.asarray2f(d_layers[i]) for i in nonempty])
        torch.autograd.backward(pooled, grad_tensors=xp2torch(d_pooled, device=device))

    return outputs, backprop
