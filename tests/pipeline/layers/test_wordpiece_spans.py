"""fgen.wordpiece_strided_spans.v1, fgen.wordpiece_even_spans.v1 and fgen.wordpiece_doc_spans.v1:
transformer windows that fit the encoder, on a tiny random BERT.

The tiny BERT's vocabulary holds single letters only for primer sequences, so each sequence is
a couple of dozen wordpieces: a window of 192 spaCy tokens is then far over 512 wordpieces, as
primer lists are for a real BERT vocabulary.
"""
from pathlib import Path
from typing import List, Optional

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from transformers import AutoTokenizer

from fgen.corpus.tokenizer import make_nlp
from fgen.pipeline.layers.wordpiece_spans import (
    WordpieceDocSpans, WordpieceEvenSpans, WordpieceStridedSpans, count_wordpieces, even_windows, split_span,
)
from fgen.util.sentences import sentence_starts

from ...conftest import REPO, TEXT
from ...tiny_transformer import PRIMER_CHARS, build_tiny_bert, primer_text

PRIMERS = primer_text()
OLD_GETTER = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 192, "stride": 144}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("layers") / "tiny-bert", [TEXT, PRIMER_CHARS])


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(str(tiny_bert))


def transformer_nlp(encoder: Path, get_spans: Optional[dict] = None) -> Language:
    """fgen's tokenizer and the transformer of configs/ner.cfg on `encoder` (another getter if given)."""
    config = spacy.util.load_config(REPO / "configs" / "ner.cfg", overrides={"paths.transformer": str(encoder)}, interpolate=True)
    settings = {key: value for key, value in config["components"]["transformer"].items() if key != "factory"}
    if get_spans is not None:
        settings["model"]["get_spans"] = get_spans
    nlp = make_nlp()
    nlp.add_pipe("transformer", config=settings)
    nlp.initialize()
    return nlp


def unaligned(doc: Doc) -> List[str]:
    """Non-space tokens of `doc` that got no wordpiece from the transformer."""
    return [token.text for token, n in zip(doc, doc._.trf_data.align.lengths) if n == 0 and not token.is_space]


def test_strided_spans_leave_primer_tokens_unaligned(tiny_bert):
    # The defect the new getter fixes: spaCy-token windows overflow 512 wordpieces and the
    # tokens past the limit are silently dropped.
    doc = transformer_nlp(tiny_bert, OLD_GETTER)(PRIMERS)
    assert len(doc) > 700
    assert len(unaligned(doc)) > 100


def test_config_windows_align_every_token(tiny_bert, tmp_path):
    nlp = transformer_nlp(tiny_bert)
    assert nlp.config["components"]["transformer"]["model"]["get_spans"]["@span_getters"] == "fgen.wordpiece_strided_spans.v1"
    for text in [PRIMERS, TEXT, " ".join([TEXT] * 40), "ACGT", ""]:
        assert unaligned(nlp(text)) == []
    # a saved pipeline binds the getter to the tokenizer it loads (no encoder folder needed)
    nlp.to_disk(tmp_path / "nlp")
    doc = spacy.load(tmp_path / "nlp")(PRIMERS)
    assert unaligned(doc) == [] and doc._.trf_data.wordpieces.input_ids.shape[1] <= 512


def test_windows_fit_and_cover_the_doc(tokenizer):
    doc = make_nlp()(PRIMERS)
    get_spans = WordpieceStridedSpans(window=192, stride=144)
    get_spans.bind_encoder(lambda: (tokenizer, 64))
    (spans,) = get_spans([doc])
    assert max(count_wordpieces(tokenizer, [span.text for span in spans])) <= 64
    assert spans[0].start == 0 and spans[-1].end == len(doc)
    assert all(b.start <= a.end for a, b in zip(spans, spans[1:]))  # in order, no gap
    assert all(len(span) <= 192 for span in spans)


def test_windows_within_the_limit_stay_strided(tokenizer):
    doc = make_nlp()(" ".join([TEXT] * 30))
    get_spans = WordpieceStridedSpans(window=192, stride=144)
    get_spans.bind_encoder(lambda: (tokenizer, 512))
    assert [(s.start, s.end) for s in get_spans([doc])[0]] == [(s.start, s.end) for s in spacy.registry.span_getters.get(OLD_GETTER["@span_getters"])(192, 144)([doc])[0]]


def test_a_token_longer_than_the_limit_gets_its_own_window(tokenizer):
    doc = make_nlp()("Primer ACGTACGTACGTACGTACGT was used.")
    get_spans = WordpieceStridedSpans(window=192, stride=144)
    get_spans.bind_encoder(lambda: (tokenizer, 8))
    spans = get_spans([doc])[0]
    assert "ACGTACGTACGTACGTACGT" in [span.text for span in spans]
    others = [span.text for span in spans if span.text != "ACGTACGTACGTACGTACGT"]
    assert max(count_wordpieces(tokenizer, others)) <= 8


def test_doc_windows_are_whole_docs_when_they_fit(tokenizer):
    docs = [make_nlp()(text) for text in (TEXT, " ".join([TEXT] * 5), "")]
    get_spans = WordpieceDocSpans()
    get_spans.bind_encoder(lambda: (tokenizer, 512))
    assert [[(s.start, s.end) for s in spans] for spans in get_spans(docs)] == [[(0, len(docs[0]))], [(0, len(docs[1]))], []]


def test_doc_windows_of_a_long_doc_fit_and_cover_it_without_overlap(tokenizer):
    doc = make_nlp()(PRIMERS)
    get_spans = WordpieceDocSpans()
    get_spans.bind_encoder(lambda: (tokenizer, 64))
    (spans,) = get_spans([doc])
    assert len(spans) > 1 and max(count_wordpieces(tokenizer, [span.text for span in spans])) <= 64
    assert spans[0].start == 0 and spans[-1].end == len(doc)
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))  # in order, no gap, no overlap


def test_doc_windows_cut_long_docs_at_sentence_starts(tokenizer):
    doc = make_nlp()(" ".join([TEXT] * 8))
    starts = sentence_starts(doc)
    limit = count_wordpieces(tokenizer, [doc.text])[0] // 3
    get_spans = WordpieceDocSpans(max_wordpieces=limit)
    get_spans.bind_encoder(lambda: (tokenizer, 512))
    (spans,) = get_spans([doc])
    assert len(spans) >= 3 and max(count_wordpieces(tokenizer, [span.text for span in spans])) <= limit
    assert spans[0].start == 0 and spans[-1].end == len(doc) and all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert all(span.start in starts for span in spans)
    with pytest.raises(ValueError, match="max_wordpieces"):
        WordpieceDocSpans(max_wordpieces=2)


def test_split_span_prefers_near_cuts_only():
    doc = spacy.blank("en").make_doc(" ".join(["w"] * 20))
    bounds = lambda parts: [(p.start, p.end) for p in parts]  # noqa: E731
    assert bounds(split_span(doc[:], 2)) == [(0, 10), (10, 20)]
    assert bounds(split_span(doc[:], 2, [0, 8, 13])) == [(0, 8), (8, 20)]  # 8 is nearer to 10 than 13
    assert bounds(split_span(doc[:], 2, [0, 2, 18])) == [(0, 10), (10, 20)]  # too far: equal split
    assert bounds(split_span(doc[2:5], 3, [3])) == [(2, 3), (3, 4), (4, 5)]


def test_doc_windows_align_every_token_in_a_pipeline(tiny_bert):
    nlp = transformer_nlp(tiny_bert, {"@span_getters": "fgen.wordpiece_doc_spans.v1"})
    for text in [PRIMERS, TEXT, "ACGT", ""]:
        assert unaligned(nlp(text)) == []


@pytest.mark.parametrize("name,settings", [("fgen.wordpiece_strided_spans.v1", {"window": 8, "stride": 6}),
                                           ("fgen.wordpiece_even_spans.v1", {"window": 8, "min_overlap": 2}),
                                           ("fgen.wordpiece_doc_spans.v1", {})])
def test_getter_needs_the_encoder(name, settings):
    get_spans = spacy.registry.span_getters.get(name)(**settings)
    with pytest.raises(ValueError, match=f"{name} needs .* fgen.transformer_model.v1"):
        get_spans([make_nlp()("Knockdown of ZNNT1.")])


def test_strided_getter_needs_a_positive_stride():
    with pytest.raises(ValueError, match="stride"):
        WordpieceStridedSpans(window=8, stride=0)


@pytest.mark.parametrize("window,min_overlap", [(192, 48), (8, 6), (10, 0), (5, 4), (1, 0)])
def test_even_windows_are_equal_overlap_enough_and_are_fewest(window, min_overlap):
    for length in range(0, 700):
        bounds = even_windows(length, window, min_overlap)
        if length == 0:
            assert bounds == []
            continue
        assert bounds[0][0] == 0 and bounds[-1][1] == length
        assert len({end - start for start, end in bounds}) == 1 and bounds[0][1] - bounds[0][0] <= window
        assert all(a_end - b_start >= min_overlap for (_, a_end), (b_start, _) in zip(bounds, bounds[1:]))
        # fewest: k windows of `window` tokens with that overlap reach at most k*window - (k-1)*overlap
        k = len(bounds) - 1
        assert k == 0 or k * window - (k - 1) * min_overlap < length
    assert even_windows(300, 192, 48) == [(0, 174), (126, 300)]  # the strided getter: (0, 192), (144, 300)


def test_even_windows_fit_the_encoder(tokenizer):
    doc = make_nlp()(PRIMERS)
    get_spans = WordpieceEvenSpans(window=192, min_overlap=48)
    get_spans.bind_encoder(lambda: (tokenizer, 64))
    (spans,) = get_spans([doc])
    assert max(count_wordpieces(tokenizer, [span.text for span in spans])) <= 64
    assert spans[0].start == 0 and spans[-1].end == len(doc) and all(b.start <= a.end for a, b in zip(spans, spans[1:]))
    with pytest.raises(ValueError, match="min_overlap"):
        WordpieceEvenSpans(window=8, min_overlap=8)


def test_even_windows_align_every_token_in_a_pipeline(tiny_bert):
    nlp = transformer_nlp(tiny_bert, {"@span_getters": "fgen.wordpiece_even_spans.v1", "window": 192, "min_overlap": 48})
    for text in [PRIMERS, TEXT, " ".join([TEXT] * 40), "ACGT", ""]:
        assert unaligned(nlp(text)) == []
