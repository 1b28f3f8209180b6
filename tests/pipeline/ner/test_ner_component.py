"""Tests for the fgen_ner component, its model and the constrained CRF."""
import itertools
import math

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

import fgen  # noqa: F401  registers span._.confidence
from fgen.pipeline.ner.crf import CRF, is_valid_sequence, make_tags
from fgen.corpus.schemes import labels_from_definitions
from fgen.pipeline.ner.ner_component import FgenNER
from fgen.pipeline.ner.ner_model import get_torch_module

from ...conftest import tiny_tok2vec

TRAIN_DATA = [
    ("Knockdown of ATG12 inhibits autophagy in UM cells.", [(0, 18, "PERTURBATION"), (41, 49, "CONTEXT")]),
    ("Overexpression of ZNNT1 promotes migration.", [(0, 23, "PERTURBATION")]),
    ("HeLa cells were treated.", [(0, 10, "CONTEXT")]),
]
# Small model so the whole file stays fast on 2 CPU cores.
SMALL_MODEL = {
    "@architectures": "fgen.ner_tagger.v1",
    "hidden_width": 16,
    "tok2vec": tiny_tok2vec(embed_size=500),
}


def make_examples(nlp, data=TRAIN_DATA):
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in data]


def train(config=None, n_iter=40, data=TRAIN_DATA):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("fgen_ner", config={"model": SMALL_MODEL, **(config or {})})
    examples = make_examples(nlp, data)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    return nlp, examples


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


@pytest.fixture(scope="module")
def trained_crf():
    return train()


@pytest.mark.parametrize(
    "config",
    [{"use_crf": True}, {"use_crf": False}, {"use_crf": True, "tag_scheme": "BIO"}],
    ids=["crf", "softmax", "crf-bio"],
)
def test_overfits_tiny_batch(config, trained_crf):
    nlp, _ = trained_crf if config == {"use_crf": True} else train(config)
    for text, gold in TRAIN_DATA:
        doc = nlp(text)
        assert ents(doc) == [tuple(g) for g in gold]
        assert [(s.start_char, s.end_char, s.label_) for s in doc.spans[fgen.SPAN_KEY]] == ents(doc)
        assert all(0.5 < e._.confidence <= 1.0 + 1e-6 for e in doc.ents)
        # stored per char range: the same value read from doc.spans
        assert [s._.confidence for s in doc.spans[fgen.SPAN_KEY]] == [e._.confidence for e in doc.ents]


def test_crf_transitions_are_trained(trained_crf):
    nlp, _ = trained_crf
    crf = get_torch_module(nlp.get_pipe("fgen_ner").model).crf
    assert crf.transitions.abs().sum().item() > 0
    assert crf.start.abs().sum().item() > 0


def test_to_disk_round_trip(trained_crf, tmp_path):
    nlp, _ = trained_crf
    texts = [text for text, _ in TRAIN_DATA] + ["ATG12 knockdown in HeLa cells inhibits autophagy.", ""]
    before = [(ents(d), [e._.confidence for e in d.ents]) for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    nlp2 = spacy.load(tmp_path / "pipeline")
    ner, ner2 = nlp.get_pipe("fgen_ner"), nlp2.get_pipe("fgen_ner")
    assert ner2.labels == ner.labels and ner2.cfg["class_weights"] == ner.cfg["class_weights"]
    crf, crf2 = get_torch_module(ner.model).crf, get_torch_module(ner2.model).crf
    assert torch.equal(crf.transitions, crf2.transitions) and torch.equal(crf.trans_mask, crf2.trans_mask)
    after = [(ents(d), [e._.confidence for e in d.ents]) for d in nlp2.pipe(texts)]
    assert after == before


def test_threshold_leaves_out_less_confident_entities(trained_crf, tmp_path):
    nlp, _ = trained_crf
    ner = nlp.get_pipe("fgen_ner")
    text = "ATG12 knockdown in HeLa cells inhibits autophagy."
    found = [(e.start_char, e.end_char, e.label_, e._.confidence) for e in nlp(text).ents]
    assert len(found) >= 2 and ner.cfg["threshold"] == 0.0
    cut = sorted(c for *_, c in found)[len(found) // 2]  # keeps about the upper half
    ner.cfg["threshold"] = cut
    try:
        doc = nlp(text)
        assert [(e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents] == [f for f in found if f[3] >= cut]
        assert len(doc.spans[fgen.SPAN_KEY]) == len(doc.ents) < len(found)
        nlp.to_disk(tmp_path / "pipeline")
        assert spacy.load(tmp_path / "pipeline").get_pipe("fgen_ner").cfg["threshold"] == pytest.approx(cut)
    finally:
        ner.cfg["threshold"] = 0.0
    with pytest.raises(ValueError, match="threshold"):
        FgenNER(nlp.vocab, ner.model, threshold=1.5)


def _no_entities(doc: Doc) -> bool:
    return not doc.ents


def _each_token_an_entity(doc: Doc) -> bool:
    # every token an entity of its own (U-, or B- under BIO), each counted
    return [(e.start, e.end) for e in doc.ents] == [(i, i + 1) for i in range(len(doc))]


def _single_token_entities(doc: Doc) -> bool:
    return bool(doc.ents) and all(len(e) == 1 for e in doc.ents)


def _one_entity_over_the_doc(doc: Doc) -> bool:
    # the most tokens after an entity's first one
    return [(e.start, e.end) for e in doc.ents] == [(0, len(doc))]


# knob -> what a very negative and a very positive value of it must decode
DECODING_BIASES = {
    "entity_bias": (_no_entities, _each_token_an_entity),
    "length_bias": (_single_token_entities, _one_entity_over_the_doc),
}


@pytest.mark.parametrize("knob", list(DECODING_BIASES))
@pytest.mark.parametrize("config", [{"use_crf": True}, {"use_crf": False}, {"use_crf": True, "tag_scheme": "BIO"}],
                         ids=["crf", "softmax", "crf-bio"])
def test_decoding_biases(knob, config, trained_crf, tmp_path):
    nlp, _ = trained_crf if config == {"use_crf": True} else train(config)
    ner = nlp.get_pipe("fgen_ner")
    text = "ATG12 knockdown in HeLa cells inhibits autophagy."
    as_trained = ents(nlp(text))
    # a longer entity among them, so that both knobs have something to change
    assert ner.cfg[knob] == 0.0 and any(len(e) > 1 for e in nlp(text).ents)
    very_negative, very_positive = DECODING_BIASES[knob]
    try:
        ner.cfg[knob] = -50.0
        assert very_negative(nlp(text))
        ner.cfg[knob] = 50.0
        doc = nlp(text)
        assert very_positive(doc)
        assert all(0.0 <= e._.confidence <= 1.0 + 1e-6 for e in doc.ents)
        ner.cfg[knob] = 0.0
        assert ents(nlp(text)) == as_trained
        ner.cfg[knob] = 1.5
        nlp.to_disk(tmp_path / "pipeline")
        assert spacy.load(tmp_path / "pipeline").get_pipe("fgen_ner").cfg[knob] == 1.5
    finally:
        ner.cfg[knob] = 0.0


def test_spacy_find_threshold_tunes_it(trained_crf, tmp_path):
    from spacy.cli.find_threshold import find_threshold
    from spacy.tokens import DocBin

    nlp, examples = trained_crf
    nlp.to_disk(tmp_path / "pipeline")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(tmp_path / "gold.spacy")
    best, score, scores = find_threshold(str(tmp_path / "pipeline"), tmp_path / "gold.spacy", "fgen_ner", "threshold", "ents_f", n_trials=3)
    assert scores[0.0] == 1.0 and scores[1.0] < 1.0  # at 1.0 (almost) every entity is left out
    assert best == 0.0 and score == 1.0


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_viterbi_only_emits_valid_sequences(scheme):
    torch.manual_seed(0)
    tags = make_tags(["A", "B"], scheme)
    crf = CRF(len(tags))
    crf.set_constraints(tags, scheme)
    with torch.no_grad():  # learned scores that favour invalid moves must not win
        crf.transitions.normal_(0, 3)
        crf.start.normal_(0, 3)
        crf.end.normal_(0, 3)
    lengths = [0, 1, 2, 5, 9, 12]
    emissions = torch.randn(len(lengths), max(lengths), len(tags)) * 5
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    for learned in (True, False):
        paths = crf.viterbi(emissions, mask, learned=learned)
        assert [len(p) for p in paths] == lengths
        assert all(is_valid_sequence([tags[k] for k in p], scheme) for p in paths)


def random_crf(labels, scheme):
    """A constrained CRF for `labels` with random learned scores, and its tags."""
    tags = make_tags(labels, scheme)
    crf = CRF(len(tags))
    crf.set_constraints(tags, scheme)
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    return crf, tags


def padding_mask(lengths):
    return torch.arange(max(lengths, default=0)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def path_scores(crf, emissions, gold=None):
    """Score of every tag sequence of one unpadded row (n, K) that agrees with `gold` where
    gold >= 0, constraints included, in float64."""
    trans, start, end = (x.detach().double().numpy() for x in crf._scores(True))
    emissions = emissions.detach().double().numpy()
    n, K = emissions.shape
    if n == 0:
        return {(): 0.0}
    scores = {}
    for seq in itertools.product(range(K), repeat=n):
        if gold is not None and any(g >= 0 and g != k for g, k in zip(gold, seq)):
            continue
        idx = numpy.asarray(seq)
        path = emissions[numpy.arange(n), idx].sum() + trans[idx[:-1], idx[1:]].sum()
        scores[seq] = start[idx[0]] + path + end[idx[-1]]
    return scores


def log_sum_exp(scores):
    values = numpy.asarray(list(scores.values()))
    top = values.max()
    return float(top + numpy.log(numpy.exp(values - top).sum()))


def expected_counts(scores, K):
    """Under p(seq) proportional to exp(score): tag marginals (n, K), expected transition
    counts (K, K), start (K) and end (K) counts."""
    logz = log_sum_exp(scores)
    n = len(next(iter(scores)))
    marg, trans, start, end = numpy.zeros((n, K)), numpy.zeros((K, K)), numpy.zeros(K), numpy.zeros(K)
    for seq, score in scores.items():
        if not seq:
            continue
        p = math.exp(score - logz)
        marg[numpy.arange(n), list(seq)] += p
        numpy.add.at(trans, (list(seq[:-1]), list(seq[1:])), p)
        start[seq[0]] += p
        end[seq[-1]] += p
    return marg, trans, start, end


@pytest.mark.parametrize("labels,scheme", [(["A"], "BILUO"), (["A", "B"], "BIO")])
def test_crf_matches_brute_force_on_padded_batch(labels, scheme):
    torch.manual_seed(1)
    crf, tags = random_crf(labels, scheme)
    lengths = [3, 1, 0, 4, 2]
    K = len(tags)
    emissions = torch.randn(len(lengths), max(lengths), K)  # noise in the padding too: it must not count
    mask = padding_mask(lengths)
    rows = [emissions[b, :n] for b, n in enumerate(lengths)]
    everything = [path_scores(crf, row) for row in rows]
    best = [list(max(s, key=s.get)) for s in everything]
    assert crf.viterbi(emissions, mask) == best
    assert all(is_valid_sequence([tags[k] for k in path], scheme) for path in best)
    logz = [log_sum_exp(s) for s in everything]
    assert crf.log_partition(emissions, mask).tolist() == pytest.approx(logz, abs=1e-4)
    # gold: each row's best path, some tags hidden (marginalised out), noise in the padding
    hidden = {0: [1], 4: [0]}
    gold = torch.randint(0, K, (len(lengths), max(lengths)))
    for b, path in enumerate(best):
        gold[b, : len(path)] = torch.tensor(path, dtype=torch.long)
        gold[b, hidden.get(b, [])] = -1
    agreeing = [path_scores(crf, row, gold[b, : len(row)].tolist()) for b, row in enumerate(rows)]
    expected_nll = [lz - log_sum_exp(s) for lz, s in zip(logz, agreeing)]
    assert crf.nll(emissions, mask, gold).tolist() == pytest.approx(expected_nll, abs=1e-4)
    marginals = crf.marginals(emissions, mask)
    for b, n in enumerate(lengths):
        expected = expected_counts(everything[b], K)[0] if n else numpy.zeros((0, K))
        assert marginals[b, :n].numpy() == pytest.approx(expected, abs=1e-4)
        assert marginals[b, n:].abs().sum().item() == 0.0


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_gold_reachable_matches_brute_force(scheme):
    crf, tags = random_crf(["A", "B"], scheme)
    K = len(tags)
    valid = {
        n: [seq for seq in itertools.product(range(K), repeat=n) if is_valid_sequence([tags[k] for k in seq], scheme)]
        for n in range(6)
    }
    patterns = [p for n in range(4) for p in itertools.product(range(-1, K), repeat=n)]
    # longer gaps between two known tags, at the start and at the end
    patterns += [(a, -1, -1, b) for a in range(K) for b in range(K)]
    patterns += [(a, -1, -1, -1, b) for a in range(K) for b in range(K)]
    patterns += [(-1, -1, a) for a in range(K)] + [(a, -1, -1) for a in range(K)]
    expected = [any(all(g < 0 or g == k for g, k in zip(p, seq)) for seq in valid[len(p)]) for p in patterns]
    lengths = [len(p) for p in patterns]
    gold = torch.randint(-1, K, (len(patterns), max(lengths)))  # noise in the padding
    for b, p in enumerate(patterns):
        gold[b, : len(p)] = torch.tensor(p, dtype=torch.long)
    assert crf.gold_reachable(padding_mask(lengths), gold).tolist() == expected
    assert 0 < sum(expected) < len(expected)


def test_gold_reachable_examples():
    crf, tags = random_crf(["A", "B"], "BILUO")
    index = {t: i for i, t in enumerate(tags)}

    def reachable(*row):
        gold = torch.tensor([[-1 if t is None else index[t] for t in row]])
        return crf.gold_reachable(torch.ones(gold.shape, dtype=torch.bool), gold).item()

    assert not reachable("B-A", None, "L-B")  # the gap must close A and open B in one token
    assert reachable("B-A", None, None, "L-B")  # B-A L-A B-B L-B
    assert not reachable("B-A", None, "I-B", "L-B")
    assert not reachable("L-A", None)  # nothing open at the start
    assert not reachable(None, "B-A")  # an open entity at the end
    assert reachable(None, None) and reachable("B-A", None)


def test_crf_empty_rows():
    crf = CRF(3)
    emissions = torch.randn(2, 0, 3)
    mask = torch.zeros(2, 0, dtype=torch.bool)
    assert crf.log_partition(emissions, mask).tolist() == [0.0, 0.0]
    assert crf.viterbi(emissions, mask) == [[], []]
    mixed = torch.randn(2, 3, 3)
    mixed_mask = torch.tensor([[True] * 3, [False] * 3])
    assert crf.nll(mixed, mixed_mask, torch.tensor([[0, 0, 0], [-1, -1, -1]]))[1].item() == 0.0


def test_empty_docs_and_docs_without_entities(trained_crf, monkeypatch):
    nlp, _ = trained_crf
    ner = nlp.get_pipe("fgen_ner")
    assert list(nlp("").ents) == []
    doc = nlp("Nothing to see .")
    assert len(doc.spans[fgen.SPAN_KEY]) == len(doc.ents)
    assert [list(d.ents) for d in nlp.pipe(["", " ", ""])] == [[], [], []]
    examples = [Example.from_dict(nlp.make_doc(""), {"entities": []})]
    assert ner.update(examples, sgd=None) == {"fgen_ner": 0.0}
    examples += [Example.from_dict(nlp.make_doc("Nothing to see ."), {"entities": []})]
    monkeypatch.setattr(get_torch_module(ner.model).dropout, "p", 0.0)  # update == predict
    (scores,) = ner.model.predict([examples[1].predicted])
    gold = torch.zeros(1, len(scores), dtype=torch.long)  # all "O"
    crf = get_torch_module(ner.model).crf
    expected = crf.nll(torch.from_numpy(scores).unsqueeze(0), torch.ones(gold.shape, dtype=torch.bool), gold)
    losses = ner.update(examples)  # no sgd: the weights stay as they are
    assert losses["fgen_ner"] == pytest.approx(expected.item(), rel=1e-5)
    # missing annotation ("-" tags) is masked out: no loss, no gradient
    doc = nlp.make_doc("Knockdown of ATG12 .")
    missing = Example(doc, Doc(nlp.vocab, words=[t.text for t in doc]))
    loss, d_scores = ner.get_loss([missing], ner.model.predict([doc]))
    assert loss == pytest.approx(0.0, abs=1e-4) and float(abs(d_scores[0]).max()) < 1e-5


def test_balance_classes_weights():
    nlp = spacy.blank("en")
    examples = make_examples(nlp)
    weights = {}
    for balance in (0.0, 0.5, 1.0):
        ner = FgenNER(nlp.vocab, spacy.registry.resolve({"m": SMALL_MODEL})["m"], balance_classes=balance)
        ner.initialize(lambda: examples, nlp=nlp)
        weights[balance] = ner.cfg["class_weights"]
    counts = {"O": 10, "PERTURBATION": 6, "CONTEXT": 4}  # tokens per class in TRAIN_DATA
    total = sum(counts.values())
    for balance, w in weights.items():
        # normalised so the average weight over training tokens is 1
        assert sum(counts[c] / total * w[c] for c in counts) == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in weights[0.0].values())
    assert weights[1.0]["CONTEXT"] / weights[1.0]["O"] == pytest.approx(10 / 4)
    assert weights[0.5]["CONTEXT"] / weights[0.5]["O"] == pytest.approx((10 / 4) ** 0.5)
    with pytest.raises(ValueError):
        FgenNER(nlp.vocab, None, balance_classes=1.5)


def tagged_ner(labels, tagged, balance_classes=0.0):
    """An initialized FgenNER and one Example per BILUO tag list ("-" = missing) of `tagged`."""
    nlp = spacy.blank("en")
    examples = [
        Example.from_dict(nlp.make_doc(" ".join("abcdefgh"[: len(tags)])), {"entities": tags}) for tags in tagged
    ]
    ner = FgenNER(nlp.vocab, spacy.registry.resolve({"m": SMALL_MODEL})["m"], balance_classes=balance_classes)
    ner.initialize(lambda: examples, nlp=nlp, labels=labels)
    return ner, examples


def random_scores(examples, n_tags):
    rng = numpy.random.default_rng(0)
    return [rng.normal(size=(len(eg.predicted), n_tags)).astype("float32") for eg in examples]


def test_class_weights_scale_emission_gradients_only():
    # With the CRF, class weights scale each known token's emission gradient; the transition,
    # start and end gradients and the reported loss stay those of the unweighted NLL.
    torch.manual_seed(0)
    ner, examples = tagged_ner(["A"], [["B-A", "L-A", "-", "O"], ["O", "U-A"]], balance_classes=1.0)
    ner.cfg["class_weights"] = {"O": 0.5, "A": 3.0}
    crf = get_torch_module(ner.model).crf
    with torch.no_grad():
        for param in (crf.transitions, crf.start, crf.end):
            param.normal_()
    crf.zero_grad(set_to_none=True)
    scores = random_scores(examples, len(ner.tags))
    loss, d_scores = ner.get_loss(examples, scores)
    weights = {"B-A": 3.0, "L-A": 3.0, "U-A": 3.0, "O": 0.5, None: 1.0}  # None: missing, unweighted
    K = len(ner.tags)
    expected_loss = 0.0
    expected_grads = [numpy.zeros((K, K)), numpy.zeros(K), numpy.zeros(K)]
    for eg, emissions, d_emissions in zip(examples, scores, d_scores):
        gold = [ner.tags.index(t) if t else -1 for t in eg.get_aligned_ner()]
        everything = path_scores(crf, torch.from_numpy(emissions))
        agreeing = path_scores(crf, torch.from_numpy(emissions), gold)
        expected_loss += log_sum_exp(everything) - log_sum_exp(agreeing)
        model_counts, gold_counts = expected_counts(everything, K), expected_counts(agreeing, K)
        w = numpy.asarray([weights[t] for t in eg.get_aligned_ner()])[:, None]
        assert d_emissions == pytest.approx(w * (model_counts[0] - gold_counts[0]), abs=1e-4)
        for total, a, b in zip(expected_grads, model_counts[1:], gold_counts[1:]):
            total += a - b
    assert loss == pytest.approx(expected_loss, abs=1e-3)
    for param, expected in zip((crf.transitions, crf.start, crf.end), expected_grads):
        assert param.grad.numpy() == pytest.approx(expected, abs=1e-4)


def test_unreachable_partial_gold_is_skipped_with_one_warning(monkeypatch):
    ner, examples = tagged_ner(["A", "B"], [["O", "O", "O"], ["O", "O", "O", "O"], ["O", "O", "O", "O"]])
    partial = [
        ["B-A", None, "L-B"],  # no valid tag closes A and opens B in one token
        ["B-A", None, "I-B", "L-B"],
        ["B-A", None, None, "L-B"],  # B-A L-A B-B L-B
    ]
    by_doc = {id(eg): tags for eg, tags in zip(examples, partial)}
    monkeypatch.setattr(ner, "_gold_tags", lambda eg: by_doc[id(eg)])
    scores = random_scores(examples, len(ner.tags))
    with pytest.warns(UserWarning, match="2 of 3 docs") as record:
        loss, d_scores = ner.get_loss(examples, scores)
    assert len([w for w in record if issubclass(w.category, UserWarning)]) == 1
    crf = get_torch_module(ner.model).crf
    gold = torch.tensor([[ner.tags.index(t) if t else -1 for t in partial[2]]])
    emissions = torch.from_numpy(scores[2]).unsqueeze(0)
    expected = crf.nll(emissions, torch.ones(gold.shape, dtype=torch.bool), gold).item()
    assert loss == pytest.approx(expected, abs=1e-4)
    assert float(abs(d_scores[0]).max()) == 0.0 and float(abs(d_scores[1]).max()) == 0.0
    assert float(abs(d_scores[2]).max()) > 0.0


def test_balanced_training_overfits():
    nlp, _ = train({"balance_classes": 1.0}, n_iter=40)
    assert [ents(nlp(text)) for text, _ in TRAIN_DATA] == [[tuple(g) for g in gold] for _, gold in TRAIN_DATA]


def test_labels_from_definitions(tiny_corpus):
    labels = labels_from_definitions(tiny_corpus, "v2")
    assert labels == ["PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"]
    assert spacy.registry.misc.get("fgen.labels_from_definitions.v1")(tiny_corpus, "v1") == [
        "PERTURBING_ACTION", "CONTEXT", "EFFECT"
    ]
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("fgen_ner", config={"model": SMALL_MODEL})
    examples = make_examples(nlp, [("UM cells .", [(0, 8, "CONTEXT")])])
    nlp.initialize(lambda: examples)
    assert ner.labels == ("CONTEXT",)
    ner = FgenNER(nlp.vocab, spacy.registry.resolve({"m": SMALL_MODEL})["m"])
    ner.initialize(lambda: examples, nlp=nlp, labels=labels)
    assert ner.labels == tuple(labels) and ner.model.get_dim("nO") == 1 + 4 * len(labels)


def test_scorer(trained_crf):
    nlp, examples = trained_crf
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0 and set(scores["ents_per_type"]) == {"PERTURBATION", "CONTEXT"}
    predicted = [Example(nlp(eg.reference.text), eg.reference) for eg in examples]
    registry_scores = spacy.registry.scorers.get("fgen.ner_scorer.v1")()(predicted)
    assert (registry_scores["ents_p"], registry_scores["ents_r"]) == (1.0, 1.0)
