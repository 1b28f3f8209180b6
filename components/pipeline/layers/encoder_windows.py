"""Running a spacy-transformers encoder window by window and pooling each token's wordpieces.

spacy-transformers reads a batch of docs in one call, cut into the windows of its span getter,
and pads every window to the longest of the call. With strided windows a doc's last window is
what is left of it, often much shorter than the others, so a call spends a good part of its
work on padding. `pooled_windows` cuts the docs into the same windows, tokenizes them once,
sorts them by length and cuts the sorted windows into calls where the padding would cost more
than another call (`plan_calls`), so that windows of similar length share a call. Each token
then gets the mean of its wordpieces' hidden states, in the chosen layers side by side, over
every window that holds it, as in spacy-transformers' alignment. Padding is masked, so a doc's
features do not depend on the other docs of its batch.

The same function serves the frozen features (no gradient) and fine-tuning (the pooled tensor
keeps PyTorch's graph back to the encoder's weights).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc, Span
from spacy_transformers.align import get_alignment, get_span2wp_from_offset_mapping
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged
from transformers.tokenization_utils import BatchEncoding

# The version of the windowing and pooling code (this file and wordpiece_spans.py), part of the
# feature cache's key (encoder_features.encoder_fingerprint): raise it with any change that changes
# the numbers a doc gets, so that no cache written before serves them.
POOLING_VERSION = 1
# The most windows one encoder call takes (a bound on its memory).
WINDOWS_PER_CALL = 16
# What one more encoder call costs, in padded positions (its fixed overhead; chosen on CPU, where a
# call of one full window already keeps the matrix products efficient).
CALL_COST = 64


# One encoder call: padded wordpieces -> hidden states indexed like Hugging Face's (at least `layers`).
HiddenStates = Callable[[WordpieceBatch], Sequence[Optional[torch.Tensor]]]


def pooled_windows(encoder: Model, docs: Sequence[Doc], layers: Sequence[int], is_train: bool = False,
                   hidden_states: Optional[HiddenStates] = None) -> List[torch.Tensor]:
    """Run `encoder` over the windows of `docs` and pool `layers` per spaCy token.

    encoder (TransformerModel): a spacy-transformers model built with `output_hidden_states`.
    docs (Sequence[Doc]): the batch.
    layers (Sequence[int]): hidden-state indices, pooled side by side in this order.
    is_train (bool): run the encoder in training mode (dropout on) and keep the autograd graph;
        else without gradient.
    hidden_states (Optional[HiddenStates]): runs one call instead of the PyTorch encoder (e.g. on
        ONNX Runtime, onnx_encoder.py); inference only.
    RETURNS (List[torch.Tensor]): per doc, (n_tokens, n_layers x hidden) float32 on the encoder's
        device; a token in no window, or without wordpieces (whitespace), gets zeros.
    """
    sizes = [len(doc) for doc in docs]
    starts = numpy.cumsum([0] + sizes[:-1]).tolist()
    # Every window with the batch-wide index of its first token.
    windows = [(starts[i] + span.start, span) for i, spans in enumerate(encoder.attrs["get_spans"](docs)) for span in spans]
    rows: List[torch.Tensor] = []
    pieces: List[torch.Tensor] = []
    counts = numpy.zeros(sum(sizes), dtype="int64")
    if windows:
        encoding = huggingface_tokenize(encoder.tokenizer, [span.text for _, span in windows])
        lengths = numpy.asarray(encoding["attention_mask"]).sum(axis=1)
        order = numpy.argsort(lengths, kind="stable")
        with torch.set_grad_enabled(is_train):
            for call in plan_calls(lengths[order].tolist()):
                group = order[call].tolist()
                wordpieces, align = call_inputs(encoder, encoding, group, [windows[k][1] for k in group])
                hidden = hidden_states(wordpieces) if hidden_states is not None else run_encoder(encoder, wordpieces, is_train)
                flat = torch.cat([hidden[layer].reshape(-1, hidden[layer].shape[-1]) for layer in layers], dim=1).float()
                # Row r of `align` is a token of a window of the call, in order; its batch-wide index:
                tokens = numpy.concatenate([numpy.arange(windows[k][0], windows[k][0] + len(windows[k][1])) for k in group])
                per_token = numpy.asarray(align.lengths, dtype="int64")
                numpy.add.at(counts, tokens, per_token)
                rows.append(torch.as_tensor(numpy.repeat(tokens, per_token), device=flat.device))
                pieces.append(flat[torch.as_tensor(numpy.asarray(align.data, dtype="int64").ravel(), device=flat.device)])
    if not pieces:
        return [torch.zeros((size, 0)) for size in sizes]
    summed = pieces[0].new_zeros((counts.shape[0], pieces[0].shape[1])).index_add_(0, torch.cat(rows), torch.cat(pieces))
    pooled = summed / torch.as_tensor(numpy.maximum(counts, 1), dtype=summed.dtype, device=summed.device).unsqueeze(1)
    return list(torch.split(pooled, sizes))


def plan_calls(lengths: Sequence[int], max_windows: Optional[int] = None, call_cost: Optional[int] = None) -> List[slice]:
    """Cut windows sorted by length into encoder calls, so that the padded positions plus
    `call_cost` per call are fewest (a call pads its windows to its longest).

    lengths (Sequence[int]): the windows' wordpiece counts, ascending.
    max_windows (Optional[int]): the most windows per call (default WINDOWS_PER_CALL).
    call_cost (Optional[int]): one call's overhead in positions (default CALL_COST).
    RETURNS (List[slice]): consecutive slices of `lengths`, one per call, covering all of it.
    """
    max_windows = WINDOWS_PER_CALL if max_windows is None else max_windows
    call_cost = CALL_COST if call_cost is None else call_cost
    n = len(lengths)
    # best[j]: the cheapest plan for the first j windows; first[j]: where its last call starts.
    best = [0] + [float("inf")] * n
    first = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - max_windows), end):
            cost = best[start] + (end - start) * lengths[end - 1] + call_cost
            if cost < best[end]:
                best[end], first[end] = cost, start
    calls = []
    end = n
    while end:
        calls.append(slice(first[end], end))
        end = first[end]
    return calls[::-1]


def call_inputs(encoder: Model, encoding: BatchEncoding, group: List[int], spans: List[Span]) -> Tuple[WordpieceBatch, Ragged]:
    """The wordpieces of the windows `group` (rows of the whole batch's `encoding`), padded to the
    longest of them, and each window token's wordpiece positions in the flattened
    (n_windows x length) call, tokens in window order (one row per token of each window, even
    when windows share tokens); windows over the encoder's limit lose their last wordpieces, as
    spacy-transformers truncates them."""
    tokenizer = encoder.tokenizer
    mask = numpy.asarray(encoding["attention_mask"])[group]
    length = int(mask.sum(axis=1).max())
    # The batch is padded to its longest window; this call only to its own longest.
    columns = slice(mask.shape[1] - length, None) if tokenizer.padding_side == "left" else slice(0, length)
    call = {"attention_mask": mask[:, columns], "pad_token": encoding["pad_token"],
            "input_texts": [encoding["input_texts"][k][columns] for k in group]}
    for key in ("input_ids", "token_type_ids", "offset_mapping"):
        if key in encoding:
            call[key] = numpy.asarray(encoding[key])[group][:, columns]
    wordpieces = WordpieceBatch.from_batch_encoding(call)
    if "offset_mapping" in call:
        # Per window token, its wordpieces in the window (what spacy-transformers' alignment
        # builds for the doc's tokens, without looking at the rest of the doc).
        per_token = [get_span2wp_from_offset_mapping(span, call["offset_mapping"][k]) for k, span in enumerate(spans)]
        aligns = [Ragged(numpy.asarray([i for wps in window for i in wps], dtype="i"),
                         numpy.asarray([len(wps) for wps in window], dtype="i")) for window in per_token]
    else:
        # spacy-transformers aligns every token of the span's doc; those outside the span have none.
        aligns = [get_alignment([span], [wordpieces.strings[k]], tokenizer.all_special_tokens)[span.start:span.end]
                  for k, span in enumerate(spans)]
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
