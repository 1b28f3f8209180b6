"""Transformer windows that always fit the encoder: strided spaCy-token windows, split by wordpieces.

`spacy-transformers.strided_spans.v1` counts its windows in spaCy tokens, but the encoder's limit
(512 positions for BERT) is in wordpieces. On ordinary prose a window of 192 tokens is far below
it; on primer lists, sequences or chemical names one token can be a dozen wordpieces, the
window overflows, and spacy-transformers silently drops the wordpieces past the limit: the tokens
there get no wordpiece and no vector. `fgen.wordpiece_strided_spans.v1` keeps the strided
windows and splits any window whose wordpieces (special tokens included) exceed the encoder's
maximum into consecutive parts until each fits, so every token is read by the encoder.

`fgen.wordpiece_doc_spans.v1` reads each doc whole when it fits: one window per doc, no overlap
to compute twice. A doc that does not fit is cut into the fewest parts that do, of about equal
length, each cut at the sentence start nearest to where an equal split would fall (so no
sentence loses its context to a cut when a sentence start is near). `max_wordpieces` may ask
for shorter windows than the encoder allows, e.g. the length an encoder was trained on.

`fgen.wordpiece_even_spans.v1` keeps the overlap of the strided windows but makes a doc's windows
equally long: a doc of `window` tokens or fewer is one window, a longer one is read in the fewest
windows of equal length (at most `window`) that overlap by at least `min_overlap` tokens. The
strided getter's last window is whatever is left and is padded to the length of the others
inside the encoder; equal windows need fewer padded positions for the same context.

A span getter only receives docs, and the tokenizer exists only once the transformer is
initialized or loaded; `fgen.transformer_model.v1` therefore binds the getter to its model
(`bind_encoder`) and the getter looks the tokenizer up at each call.
"""
from bisect import bisect_left, bisect_right
from functools import partial
from math import ceil
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.util import registry

from fgen.util.sentences import sentence_starts

# () -> (Hugging Face tokenizer, most wordpieces a window may have), or None before the encoder
# is initialized or loaded.
EncoderLimits = Callable[[], Optional[Tuple[Any, int]]]


class EncoderBoundSpans:
    """Base of the span getters that know the encoder's tokenizer and limit (see bind_encoder)."""

    registered_name = ""

    def __init__(self) -> None:
        self._encoder: Optional[EncoderLimits] = None

    def bind_encoder(self, encoder: EncoderLimits) -> None:
        """Tell the getter where to find the encoder's tokenizer and maximum length.

        encoder (Callable[[], Optional[Tuple[tokenizer, int]]]): called at every batch, so it sees
            the tokenizer the transformer holds now (set at initialize or when loaded).
        """
        self._encoder = encoder

    def limits(self) -> Tuple[Any, int]:
        """The encoder's tokenizer and the most wordpieces a window may have."""
        limits = self._encoder() if self._encoder is not None else None
        if limits is None:
            raise ValueError(
                f"{self.registered_name} needs the encoder's tokenizer: use it as get_spans of "
                "fgen.transformer_model.v1, and initialize or load the transformer before running it"
            )
        return limits


class WordpieceStridedSpans(EncoderBoundSpans):
    """Span getter: strided windows of spaCy tokens, each split until its wordpieces fit."""

    registered_name = "fgen.wordpiece_strided_spans.v1"

    def __init__(self, window: int, stride: int):
        """window (int): tokens per window.
        stride (int): tokens between window starts (stride < window: windows overlap).
        """
        if not 0 < stride <= window:
            raise ValueError(f"need 0 < stride <= window, not window={window}, stride={stride}")
        super().__init__()
        self.window = window
        self.stride = stride

    def __call__(self, docs: Iterable[Doc]) -> List[List[Span]]:
        """The windows of each doc, in order; together they cover every token.

        docs (Iterable[Doc]): the batch.
        RETURNS (List[List[Span]]): per doc, windows of at most `window` tokens whose wordpieces fit.
        """
        tokenizer, max_length = self.limits()
        return [fit_windows(spans, tokenizer, max_length) for spans in get_strided_spans(docs, self.window, self.stride)]


class WordpieceEvenSpans(EncoderBoundSpans):
    """Span getter: the fewest overlapping windows of equal length, each split until its wordpieces fit."""

    registered_name = "fgen.wordpiece_even_spans.v1"

    def __init__(self, window: int, min_overlap: int):
        """window (int): the most tokens per window.
        min_overlap (int): the fewest tokens two neighbouring windows share.
        """
        if not 0 <= min_overlap < window:
            raise ValueError(f"need 0 <= min_overlap < window, not window={window}, min_overlap={min_overlap}")
        super().__init__()
        self.window = window
        self.min_overlap = min_overlap

    def __call__(self, docs: Iterable[Doc]) -> List[List[Span]]:
        """The windows of each doc, in order; together they cover every token.

        docs (Iterable[Doc]): the batch.
        RETURNS (List[List[Span]]): per doc, windows of at most `window` tokens whose wordpieces fit
            (none for an empty doc).
        """
        tokenizer, max_length = self.limits()
        return [fit_windows([doc[start:end] for start, end in even_windows(len(doc), self.window, self.min_overlap)],
                            tokenizer, max_length) for doc in docs]


def even_windows(length: int, window: int, min_overlap: int) -> List[Tuple[int, int]]:
    """(start, end) of the fewest windows of one length, at most `window`, that cover `length`
    tokens with neighbours sharing at least `min_overlap` tokens.

    length (int): tokens to cover.
    window (int): the most tokens per window.
    min_overlap (int): the fewest tokens two neighbours share (less than `window`).
    RETURNS (List[Tuple[int, int]]): the windows, in order; none for length 0.
    """
    if length <= window:
        return [(0, length)] if length else []
    n_windows = ceil((length - min_overlap) / (window - min_overlap))
    size = ceil((length + (n_windows - 1) * min_overlap) / n_windows)
    while True:
        starts = [i * (length - size) // (n_windows - 1) for i in range(n_windows)]
        # Integer starts may cost a shared token; a token longer window restores it.
        if all(start + size - after >= min_overlap for start, after in zip(starts, starts[1:])) or size >= window:
            return [(start, start + size) for start in starts]
        size += 1


class WordpieceDocSpans(EncoderBoundSpans):
    """Span getter: the whole doc as one window, cut at sentences only if it does not fit."""

    registered_name = "fgen.wordpiece_doc_spans.v1"

    def __init__(self, max_wordpieces: Optional[int] = None):
        """max_wordpieces (Optional[int]): the most wordpieces a window may have, special tokens
            included; None: as many as the encoder takes.
        """
        if max_wordpieces is not None and max_wordpieces < 3:
            raise ValueError(f"max_wordpieces must be at least 3 (two special tokens and one piece), not {max_wordpieces}")
        super().__init__()
        self.max_wordpieces = max_wordpieces

    def __call__(self, docs: Iterable[Doc]) -> List[List[Span]]:
        """The windows of each doc, in order; together they cover every token, without overlap.

        docs (Iterable[Doc]): the batch.
        RETURNS (List[List[Span]]): per doc, the doc itself or the fewest parts whose
            wordpieces fit, cut at sentence starts where one is near (none for an empty doc).
        """
        tokenizer, max_length = self.limits()
        if self.max_wordpieces is not None:
            max_length = min(max_length, self.max_wordpieces)
        return [fit_windows([doc[:]], tokenizer, max_length, get_cuts=partial(sentence_starts, doc)) if len(doc) else []
                for doc in docs]


@registry.span_getters("fgen.wordpiece_strided_spans.v1")
def configure_wordpiece_strided_spans(window: int, stride: int) -> WordpieceStridedSpans:
    """Strided windows of `window` spaCy tokens every `stride` tokens, split to fit the encoder.

    Registered as `fgen.wordpiece_strided_spans.v1` (@span_getters); works with
    `fgen.transformer_model.v1`, which gives it the encoder's tokenizer and maximum length.

    window (int): tokens per window.
    stride (int): tokens between window starts.
    RETURNS (WordpieceStridedSpans): the span getter.
    """
    return WordpieceStridedSpans(window, stride)


@registry.span_getters("fgen.wordpiece_even_spans.v1")
def configure_wordpiece_even_spans(window: int, min_overlap: int) -> WordpieceEvenSpans:
    """The fewest windows of equal length (at most `window` spaCy tokens) that cover each doc,
    neighbours sharing at least `min_overlap` tokens, split to fit the encoder.

    Registered as `fgen.wordpiece_even_spans.v1` (@span_getters); works with
    `fgen.transformer_model.v1`, which gives it the encoder's tokenizer and maximum length.

    window (int): the most tokens per window.
    min_overlap (int): the fewest tokens two neighbouring windows share.
    RETURNS (WordpieceEvenSpans): the span getter.
    """
    return WordpieceEvenSpans(window, min_overlap)


@registry.span_getters("fgen.wordpiece_doc_spans.v1")
def configure_wordpiece_doc_spans(max_wordpieces: Optional[int] = None) -> WordpieceDocSpans:
    """Each doc whole as one window; a longer doc is cut into the fewest parts that fit, at the
    sentence starts nearest to an equal split.

    Registered as `fgen.wordpiece_doc_spans.v1` (@span_getters); works with
    `fgen.transformer_model.v1`, which gives it the encoder's tokenizer and maximum length.

    max_wordpieces (Optional[int]): the most wordpieces per window (special tokens included);
        None: the encoder's maximum.
    RETURNS (WordpieceDocSpans): the span getter.
    """
    return WordpieceDocSpans(max_wordpieces)


def count_wordpieces(tokenizer: Any, texts: List[str]) -> List[int]:
    """Wordpieces of each text as the transformer will see it, special tokens included.

    tokenizer (PreTrainedTokenizerBase): the encoder's Hugging Face tokenizer.
    texts (List[str]): the window texts.
    RETURNS (List[int]): one count per text.
    """
    if not texts:
        return []
    # verbose=False: the "sequence length is longer than ..." warning is about exactly the windows
    # this getter is about to split.
    encoded = tokenizer(texts, add_special_tokens=True, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def fit_windows(
    spans: List[Span], tokenizer: Any, max_length: int, get_cuts: Callable[[], Sequence[int]] = tuple
) -> List[Span]:
    """Split every span with more than `max_length` wordpieces into consecutive parts that fit.

    A single token with more wordpieces than `max_length` cannot be split further: it keeps its
    first wordpieces (spacy-transformers truncates the rest), so it is still aligned.

    spans (List[Span]): windows of one doc, in order.
    tokenizer (PreTrainedTokenizerBase): the encoder's tokenizer.
    max_length (int): the most wordpieces one window may have, special tokens included.
    get_cuts (Callable[[], Sequence[int]]): the sorted token indices where a cut is preferred
        (e.g. sentence starts); called only if a span has to be split, at most once.
    RETURNS (List[Span]): the windows, oversized ones replaced by their parts, in order.
    """
    fitted: List[Span] = []
    cuts: Optional[Sequence[int]] = None
    for span, n_pieces in zip(spans, count_wordpieces(tokenizer, [span.text for span in spans])):
        if n_pieces <= max_length or len(span) <= 1:
            fitted.append(span)
        else:
            if cuts is None:
                cuts = get_cuts()
            parts = split_span(span, max(2, ceil(n_pieces / max_length)), cuts)
            fitted.extend(fit_windows(parts, tokenizer, max_length, get_cuts=lambda: cuts))
    return fitted


def split_span(span: Span, n_parts: int, cuts: Sequence[int] = ()) -> List[Span]:
    """`span` cut into `n_parts` consecutive spans of about equal token counts, none empty. Each
    cut moves to the nearest index of `cuts` within half a part's length of the equal split, if
    there is one.

    span (Span): the span to cut; at least 2 tokens.
    n_parts (int): how many parts (at most len(span)).
    cuts (Sequence[int]): sorted token indices where a cut is preferred (e.g. sentence starts).
    RETURNS (List[Span]): the parts, in order.
    """
    n_parts = min(n_parts, len(span))
    reach = len(span) / (2 * n_parts)
    bounds = [span.start]
    for i in range(1, n_parts):
        equal = span.start + round(i * len(span) / n_parts)
        lo, hi = bisect_left(cuts, equal - reach), bisect_right(cuts, equal + reach)
        near = [c for c in cuts[lo:hi] if bounds[-1] < c < span.end]
        bound = min(near, key=lambda c: (abs(c - equal), c)) if near else equal
        if bounds[-1] < bound < span.end:
            bounds.append(bound)
    bounds.append(span.end)
    return [span.doc[start:end] for start, end in zip(bounds, bounds[1:])]
