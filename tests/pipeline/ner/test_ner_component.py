"""Tests for the fgen_ner component, its model and the constrained CRF."""
import itertools
import math
import subprocess
import sys

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


def brute_force(crf, emissions, gold=None):
    """log-sum-exp over all tag sequences (consistent with gold where gold >= 0) and the best one."""
    trans, start, end = crf._scores(True)
    T, K = emissions.shape
    scores = {}
    for seq in itertools.product(range(K), repeat=T):
        if gold is not None and any(g >= 0 and g != s for g, s in zip(gold, seq)):
            continue
        s = start[seq[0]] + end[seq[-1]] + sum(emissions[t, k] for t, k in enumerate(seq))
        s = s + sum(trans[a, b] for a, b in zip(seq, seq[1:]))
        scores[seq] = s
    values = torch.stack(list(scores.values()))
    return torch.logsumexp(values, 0), max(scores, key=lambda q: scores[q].item()), scores


def test_crf_nll_marginals_and_viterbi_match_brute_force():
    torch.manual_seed(1)
    tags = make_tags(["A"], "BILUO")  # O B-A I-A L-A U-A
    crf = CRF(len(tags))
    crf.set_constraints(tags, "BILUO")
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
        crf.end.normal_()
    T = 4
    emissions = torch.randn(1, T, len(tags))
    mask = torch.ones(1, T, dtype=torch.bool)
    logz, best, scores = brute_force(crf, emissions[0])
    assert crf.log_partition(emissions, mask).item() == pytest.approx(logz.item(), abs=1e-4)
    gold = torch.tensor([[1, 2, 3, 0]])  # B I L O
    expected = logz - scores[tuple(gold[0].tolist())]
    assert crf.nll(emissions, mask, gold).item() == pytest.approx(expected.item(), abs=1e-4)
    partial = torch.tensor([[1, -1, -1, 0]])  # missing tags are marginalised out
    logz_gold, _, _ = brute_force(crf, emissions[0], partial[0].tolist())
    assert crf.nll(emissions, mask, partial).item() == pytest.approx((logz - logz_gold).item(), abs=1e-4)
    assert crf.viterbi(emissions, mask)[0] == list(best)
    marg = crf.marginals(emissions, mask)[0]
    probs = {q: math.exp((s - logz).item()) for q, s in scores.items()}
    for t, k in itertools.product(range(T), range(len(tags))):
        expected_m = sum(p for q, p in probs.items() if q[t] == k)
        assert marg[t, k].item() == pytest.approx(expected_m, abs=1e-4)


def test_crf_empty_rows():
    crf = CRF(3)
    emissions = torch.randn(2, 0, 3)
    mask = torch.zeros(2, 0, dtype=torch.bool)
    assert crf.log_partition(emissions, mask).tolist() == [0.0, 0.0]
    assert crf.viterbi(emissions, mask) == [[], []]
    mixed = torch.randn(2, 3, 3)
    mixed_mask = torch.tensor([[True] * 3, [False] * 3])
    assert crf.nll(mixed, mixed_mask, torch.tensor([[0, 0, 0], [-1, -1, -1]]))[1].item() == 0.0


def test_empty_docs_and_docs_without_entities(trained_crf):
    nlp, _ = trained_crf
    ner = nlp.get_pipe("fgen_ner")
    assert list(nlp("").ents) == []
    doc = nlp("Nothing to see .")
    assert len(doc.spans[fgen.SPAN_KEY]) == len(doc.ents)
    assert [list(d.ents) for d in nlp.pipe(["", " ", ""])] == [[], [], []]
    examples = [Example.from_dict(nlp.make_doc(""), {"entities": []})]
    assert ner.update(examples, sgd=None) == {"fgen_ner": 0.0}
    examples += [Example.from_dict(nlp.make_doc("Nothing to see ."), {"entities": []})]
    losses = ner.update(examples)
    assert math.isfinite(losses["fgen_ner"])
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
    assert spacy.registry.scorers.get("fgen.ner_scorer.v1")()(examples)["ents_p"] is not None


def test_factory_found_through_entry_point():
    code = (
        "import sys, spacy\n"
        "nlp = spacy.blank('en')\n"
        "ner = nlp.add_pipe('fgen_ner')\n"
        "print(type(ner).__module__, nlp.get_pipe_meta('fgen_ner').default_score_weights['ents_f'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["fgen.pipeline.ner.ner_component", "1.0"]
