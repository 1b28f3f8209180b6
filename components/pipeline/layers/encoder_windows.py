"""Running a spacy-transformers encoder window by window and pooling each token's wordpieces.

spacy-transformers reads a batch of docs in one call, cut into the windows of its span getter,
and pads every window to the longest of the call. With strided windows a doc's last window is
what is left of it, often much shorter than the others, so a call spends a good part of its
work on padding. `pooled_windows` cuts the docs into the same windows, sorts all the windows of
the batch by length and gives the encoder WINDOWS_PER_CALL of them at a time, so that windows of
similar length share a call; each token then gets the mean of its wordpieces' hidden states, in
the chosen layers side by side, over every window that holds it, as in spacy-transformers'
alignment. Padding is masked, so a doc's features do not depend on the other docs of its batch.

The same function serves the frozen features (no gradient) and fine-tuning (the pooled tensor
keeps PyTorch's graph back to the encoder's weights).
"""
from typing import List, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment, get_alignment_via_offset_mapping
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged

# Windows per encoder call: small enough that windows of similar length go together, large enough
# to keep a CPU's matrix products efficient (chosen on CPU; a GPU may prefer more).
WINDOWS_PER_CALL = 16


def pooled_windows(encoder: Model, docs: Sequence[Doc], layers: Sequence[int], is_train: bool = False) -> List[torch.Tensor]:
    """Run `encoder` over the windows of `docs` and pool `layers` per spaCy token.

    encoder (TransformerModel): a spacy-transformers model built with `output_hidden_states`.
    docs (Sequence[Doc]): the batch.
    layers (Sequence[int]): hidden-state indices, pooled side by side in this order.
    is_train (bool): run the encoder in training mode (dropout on) and keep the autograd graph;
        else without gradient.
    RETURNS (List[torch.Tensor]): per doc, (n_tokens, n_layers x hidden) float32 on the encoder's
        device; a token in no window, or without wordpieces (whitespace), gets zeros.
    """
    sizes = [len(doc) for doc in docs]
    starts = numpy.cumsum([0] + sizes[:-1]).tolist()
    # Every window with the batch-wide index of its first token.
    windows = [(starts[i] + span.start, span) for i, spans in enumerate(encoder.attrs["get_spans"](docs)) for span in spans]
    # Characters stand in for wordpieces: close enough to group windows of similar length.
    order = sorted(range(len(windows)), key=lambda k: len(windows[k][1].text))
    rows: List[torch.Tensor] = []
    pieces: List[torch.Tensor] = []
    counts = numpy.zeros(sum(sizes), dtype="int64")
    with torch.set_grad_enabled(is_train):
        for first in range(0, len(order), WINDOWS_PER_CALL):
            group = [windows[k] for k in order[first:first + WINDOWS_PER_CALL]]
            wordpieces, align = tokenize_windows(encoder, [span for _, span in group])
            hidden = run_encoder(encoder, wordpieces, is_train)
            flat = torch.cat([hidden[layer].reshape(-1, hidden[layer].shape[-1]) for layer in layers], dim=1).float()
            # Row r of `align` is a token of a window of the group, in order; its batch-wide index:
            tokens = numpy.concatenate([numpy.arange(start, start + len(span)) for start, span in group])
            lengths = numpy.asarray(align.lengths, dtype="int64")
            numpy.add.at(counts, tokens, lengths)
            rows.append(torch.as_tensor(numpy.repeat(tokens, lengths), device=flat.device))
            pieces.append(flat[torch.as_tensor(numpy.asarray(align.data, dtype="int64").ravel(), device=flat.device)])
    if not pieces:
        return [torch.zeros((size, 0)) for size in sizes]
    summed = pieces[0].new_zeros((counts.shape[0], pieces[0].shape[1])).index_add_(0, torch.cat(rows), torch.cat(pieces))
    pooled = summed / torch.as_tensor(numpy.maximum(counts, 1), dtype=summed.dtype, device=summed.device).unsqueeze(1)
    return list(torch.split(pooled, sizes))


def tokenize_windows(encoder: Model, spans: List[Span]) -> Tuple[WordpieceBatch, Ragged]:
    """The padded wordpieces of `spans` for one encoder call, and each span token's wordpiece
    positions in the flattened (n_spans x length) batch, tokens in span order (one row per token
    of each span, even when spans share tokens); windows over the encoder's limit lose their last
    wordpieces, as spacy-transformers truncates them."""
    tokenizer = encoder.tokenizer
    encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    length = wordpieces.input_ids.shape[1]
    if "offset_mapping" in encoding:
        aligns = [get_alignment_via_offset_mapping([span], encoding["offset_mapping"][k:k + 1]) for k, span in enumerate(spans)]
    else:
        aligns = [get_alignment([span], [wordpieces.strings[k]], tokenizer.all_special_tokens) for k, span in enumerate(spans)]
    # spacy-transformers aligns every token of the span's doc; those outside the span have none.
    aligns = [a[span.start:span.end] for a, span in zip(aligns, spans)]
    align = Ragged(
        numpy.concatenate([numpy.asarray(a.data, dtype="i").ravel() + k * length for k, a in enumerate(aligns)]),
        numpy.concatenate([numpy.asarray(a.lengths, dtype="i") for a in aligns]),
    )
    return truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)


def run_encoder(encoder: Model, wordpieces: WordpieceBatch, is_train: bool) -> Tuple[torch.Tensor, ...]:
    """The hidden states of the Hugging Face model inside `encoder` for one call; in training
    mode with autograd's graph (spacy-transformers' backprop covers only the last layer, so it
    is not used)."""
    output, _ = encoder.layers[0](wordpieces, is_train)
    return output["hidden_states"]
