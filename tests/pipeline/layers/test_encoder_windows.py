"""The encoder read window by window, windows of similar length together (encoder_windows.py): the
same pooled features as spacy-transformers' own batch, on tiny random BERTs built offline."""
from typing import List, Sequence

import numpy
import pytest
import spacy
from spacy_transformers.span_getters import configure_strided_spans

import fgen  # noqa: F401
from fgen.pipeline.layers import encoder_windows
from fgen.pipeline.layers.encoder_windows import pooled_windows
from fgen.pipeline.layers.encoders import create_transformer_model
from fgen.pipeline.layers.wordpiece_spans import configure_wordpiece_strided_spans

from ...conftest import TEXT
from ...tiny_transformer import build_tiny_bert

TEXTS = [" ".join([TEXT] * 3), "", "Knockdown of ZNNT1.", TEXT, "a  b", "HeLa cells.", " ".join([TEXT] * 2)]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert", [TEXT])


def make_encoder(path, get_spans, use_fast: bool = True):
    encoder = create_transformer_model(str(path), get_spans, tokenizer_config={"use_fast": use_fast},
                                       transformer_config={"output_hidden_states": True})
    encoder.initialize()
    return encoder


def spacy_transformers_pooling(encoder, docs, layers: Sequence[int]) -> List[numpy.ndarray]:
    """Each token's mean wordpiece over the chosen layers, from spacy-transformers' batch of all
    the docs at once (its alignment joins a token's wordpieces across overlapping windows)."""
    batch = encoder.predict([doc for doc in docs if len(doc)])
    by_doc = iter(batch.doc_data)
    pooled = []
    for doc in docs:
        if not len(doc):
            pooled.append(numpy.zeros((0, 32 * len(layers)), dtype="f"))
            continue
        data = next(by_doc)
        hidden = data.model_output["hidden_states"]
        pieces = numpy.hstack([numpy.asarray(hidden[i]).reshape(-1, hidden[i].shape[-1]) for i in layers])
        lengths = numpy.asarray(data.align.lengths)
        starts = numpy.cumsum(lengths) - lengths
        index = numpy.asarray(data.align.data).ravel()
        pooled.append(numpy.stack([pieces[index[s:s + n]].mean(axis=0) if n else numpy.zeros(pieces.shape[1], "f")
                                   for s, n in zip(starts, lengths)]))
    return pooled


def assert_same_as_spacy_transformers(encoder, docs, layers):
    ours = [tensor.numpy() for tensor in pooled_windows(encoder, docs, layers)]
    assert [a.shape[0] for a in ours] == [len(doc) for doc in docs]
    for a, b in zip(ours, spacy_transformers_pooling(encoder, docs, layers)):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("windows_per_call,use_fast", [(1, True), (3, True), (16, True), (3, False)])
def test_pooled_windows_equal_spacy_transformers_pooling(tiny_bert, monkeypatch, windows_per_call, use_fast):
    """Also with a slow tokenizer (no offset mapping: aligned by wordpiece strings)."""
    monkeypatch.setattr(encoder_windows, "WINDOWS_PER_CALL", windows_per_call)
    encoder = make_encoder(tiny_bert, configure_wordpiece_strided_spans(8, 5), use_fast=use_fast)
    nlp = spacy.blank("en")
    assert_same_as_spacy_transformers(encoder, [nlp.make_doc(text) for text in TEXTS], [0, -1])


def test_windows_of_similar_length_share_a_call(tiny_bert, monkeypatch):
    monkeypatch.setattr(encoder_windows, "WINDOWS_PER_CALL", 3)
    calls = []
    run_encoder = encoder_windows.run_encoder

    def recording(encoder, wordpieces, is_train):
        calls.append(numpy.asarray(wordpieces.attention_mask).sum(axis=1).astype(int).tolist())
        return run_encoder(encoder, wordpieces, is_train)

    monkeypatch.setattr(encoder_windows, "run_encoder", recording)
    get_spans = configure_wordpiece_strided_spans(8, 5)
    encoder = make_encoder(tiny_bert, get_spans)
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(text) for text in TEXTS]
    pooled_windows(encoder, docs, [-1])
    windows = [len(encoder.tokenizer(span.text)["input_ids"]) for spans in get_spans(docs) for span in spans]
    assert all(len(call) <= 3 for call in calls)
    assert [n for call in calls for n in call] == sorted(windows)


def test_plan_calls_trades_padding_against_calls():
    lengths = [10, 10, 10, 100, 100]
    assert encoder_windows.plan_calls(lengths, max_windows=16, call_cost=5) == [slice(0, 3), slice(3, 5)]
    assert encoder_windows.plan_calls(lengths, max_windows=16, call_cost=1000) == [slice(0, 5)]
    capped = encoder_windows.plan_calls(lengths, max_windows=2, call_cost=1000)
    assert len(capped) == 3 and all(c.stop - c.start <= 2 for c in capped)
    assert [i for c in capped for i in range(c.start, c.stop)] == list(range(5))
    assert encoder_windows.plan_calls([], max_windows=2, call_cost=1) == []


def test_windows_over_the_limit_are_truncated_as_spacy_transformers_does(tmp_path):
    """Plain strided windows (spacy-transformers') may hold more wordpieces than the encoder takes:
    the tokens past the limit in every window that holds them get zeros, as in spacy-transformers."""
    short = build_tiny_bert(tmp_path / "short-bert", [TEXT], max_length=16)
    encoder = make_encoder(short, configure_strided_spans(20, 15))
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(TEXT), nlp.make_doc("HeLa cells.")]
    assert_same_as_spacy_transformers(encoder, docs, [-1])
    first = pooled_windows(encoder, docs, [-1])[0].numpy()
    assert first[:5].all(axis=1).all() and not first.any(axis=1).all()


def test_no_docs_or_only_empty_docs(tiny_bert):
    encoder = make_encoder(tiny_bert, configure_wordpiece_strided_spans(8, 5))
    nlp = spacy.blank("en")
    assert pooled_windows(encoder, [], [-1]) == []
    assert [tuple(t.shape) for t in pooled_windows(encoder, [nlp.make_doc(""), nlp.make_doc("")], [-1])] == [(0, 0), (0, 0)]
