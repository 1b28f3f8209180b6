"""Tests for the link component `fgen_links`: candidates, decoding, training, serialization."""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

import fgen  # noqa: F401  registers the Doc extensions
from fgen.doc_layout import SPAN_KEY, set_links
from fgen.pipeline.links.link_candidates import ROLES, candidate_tuples, n_tuple_features, tuple_features
from fgen.util.sentences import sentence_ids
from fgen.pipeline.links.link_component import DocScores

from ...conftest import tiny_tok2vec

PA, CTX, EFF, PHE = ROLES
# Two sentences; the second has two statements sharing the perturbation and the context.
TEXT = (
    "Knockdown of ATG12 in UM cells inhibits tumorigenesis. "
    "Overexpression of ZNNT1 in HeLa cells promotes autophagy but reduces migration."
)
ENTS = {
    "kd": ("Knockdown of ATG12", PA), "um": ("UM cells", CTX), "inh": ("inhibits", EFF), "tum": ("tumorigenesis", PHE),
    "oe": ("Overexpression of ZNNT1", PA), "hela": ("HeLa cells", CTX), "pro": ("promotes", EFF),
    "aut": ("autophagy", PHE), "red": ("reduces", EFF), "mig": ("migration", PHE),
}
GOLD = [("kd", "um", "inh", "tum"), ("oe", "hela", "pro", "aut"), ("oe", "hela", "red", "mig")]
SMALL_MODEL = {
    "@architectures": "fgen.link_model.v1",
    "hidden_width": 32,
    "entity_width": 16,
    "dropout": 0.0,
    "entity_dropout": 0.0,
    "n_roles": 4,
    "tok2vec": tiny_tok2vec(),
}


def make_doc(nlp: Language, text: str = TEXT, ents: Dict[str, Tuple[str, str]] = ENTS,
             links: Sequence[Sequence[str]] = GOLD, annotated: bool = True) -> Doc:
    """A doc with entities in `doc.spans["fgen"]` and `doc.ents`, and statements in `doc._.links`."""
    doc = nlp.make_doc(text)
    spans = {}
    for name, (piece, label) in ents.items():
        start = text.index(piece)
        spans[name] = doc.char_span(start, start + len(piece), label=label, span_id=name)
    ordered = sorted(spans.values(), key=lambda s: s.start)
    doc.spans[SPAN_KEY] = ordered
    doc.ents = ordered
    set_links(doc, [{span.label_: span for span in (spans[n] for n in link)} for link in links])
    doc._.provenance = {"links_annotated": annotated}
    return doc


def statements(doc: Doc) -> List[frozenset]:
    return sorted((frozenset((s.label_, s.text) for s in link.values()) for link in doc._.links), key=sorted)


def gold_statements(nlp: Language) -> List[frozenset]:
    return statements(make_doc(nlp))


def unlinked(doc: Doc) -> Doc:
    """The doc with its entities but without links (what the component sees at prediction)."""
    copy = doc.copy()
    set_links(copy, [])
    return copy


def make_pipeline(**cfg) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("fgen_links", config={"model": SMALL_MODEL, **cfg})
    return nlp


def train(nlp: Language, examples: List[Example], steps: int = 120) -> None:
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, losses={})


@pytest.fixture(scope="module")
def trained() -> Language:
    spacy.util.fix_random_seed(0)
    nlp = make_pipeline()
    doc = make_doc(nlp)
    train(nlp, [Example(unlinked(doc), doc)])
    return nlp


def test_candidates_within_sentences():
    nlp = spacy.blank("en")
    doc = make_doc(nlp)
    ents = list(doc.spans[SPAN_KEY])
    sent_ids = sentence_ids(doc)
    names = {e.text: e for e in ents}
    cands = candidate_tuples(ents, sent_ids)
    as_text = {tuple(ents[i].text for i in c) for c in cands}
    # sentence 1: 1 x 1 x 1 x 1; sentence 2: 1 x 1 x 2 x 2
    assert as_text == {
        ("Knockdown of ATG12", "UM cells", "inhibits", "tumorigenesis"),
        ("Overexpression of ZNNT1", "HeLa cells", "promotes", "autophagy"),
        ("Overexpression of ZNNT1", "HeLa cells", "promotes", "migration"),
        ("Overexpression of ZNNT1", "HeLa cells", "reduces", "autophagy"),
        ("Overexpression of ZNNT1", "HeLa cells", "reduces", "migration"),
    }
    assert all([ents[i].label_ for i in c] == list(ROLES) for c in cands)
    # two sentences at once add the mixed combinations (2 x 2 x 3 x 3 = 36 in all), each once
    wide = candidate_tuples(ents, sent_ids, max_sentences=2)
    assert len(wide) == len(set(wide)) == 36
    # a width limit drops the long ones: the tuple ending at "migration" spans 11 tokens
    narrow = candidate_tuples(ents, sent_ids, max_width=10)
    assert {tuple(ents[i].text for i in c)[3] for c in narrow if ents[c[0]].text.startswith("Over")} == {"autophagy"}
    assert names["migration"].start - names["Overexpression of ZNNT1"].start == 10
    # a missing role in a sentence: no candidate there
    without_um = [e for e in ents if e.text != "UM cells"]
    assert {without_um[c[0]].text for c in candidate_tuples(without_um, sent_ids)} == {"Overexpression of ZNNT1"}
    assert candidate_tuples([], []) == []
    with pytest.raises(ValueError):
        candidate_tuples(ents, sent_ids, max_sentences=0)


def test_features_shape_and_nearest():
    nlp = spacy.blank("en")
    doc = make_doc(nlp)
    ents = list(doc.spans[SPAN_KEY])
    sent_ids = sentence_ids(doc)
    cands = candidate_tuples(ents, sent_ids)
    rows = tuple_features(ents, cands, sent_ids)
    assert len(rows) == len(cands) and all(len(r) == n_tuple_features(4) for r in rows)
    assert numpy.isfinite(numpy.asarray(rows)).all()
    # EFFECT-PHENOTYPE is role pair 5; its features 4/5 say whether they are each other's nearest
    by_text = {tuple(ents[i].text for i in c): r for c, r in zip(cands, rows)}
    pair5 = slice(5 * 6, 6 * 6)
    near = by_text[("Overexpression of ZNNT1", "HeLa cells", "promotes", "autophagy")][pair5]
    far = by_text[("Overexpression of ZNNT1", "HeLa cells", "promotes", "migration")][pair5]
    assert near[4] == 1.0 and far[4] == 0.0


def test_max_candidates_keeps_the_narrowest():
    # one sentence, three entities per role: 3 ** 4 = 81 candidates, 3 of width 4, 6 of width 5
    text = "PA1 CX1 EF1 PH1 and PA2 CX2 EF2 PH2 and PA3 CX3 EF3 PH3 ."
    roles = (("PA", PA), ("CX", CTX), ("EF", EFF), ("PH", PHE))
    ents = {f"{short}{n}": (f"{short}{n}", label) for n in (1, 2, 3) for short, label in roles}
    nlp = make_pipeline(max_candidates=5)
    doc = make_doc(nlp, text, ents, links=[])
    dc = nlp.get_pipe("fgen_links").doc_candidates(doc)
    kept = [" ".join(dc.entities[i].text for i in c) for c in dc.candidates]
    # the three of width 4, then the first two of width 5 in candidate order; sorted by entity
    assert kept == [
        "PA1 CX1 EF1 PH1",
        "PA2 CX1 EF1 PH1",
        "PA2 CX2 EF1 PH1",
        "PA2 CX2 EF2 PH2",
        "PA3 CX3 EF3 PH3",
    ]
    assert len(dc.features) == 5
    for limit, expected in ((0, 81), (81, 81), (1, 1)):
        nlp.get_pipe("fgen_links").cfg["max_candidates"] = limit
        assert len(nlp.get_pipe("fgen_links").doc_candidates(doc).candidates) == expected


def test_decoding_one_entity_per_role_and_shared_entities():
    nlp = make_pipeline(threshold=0.5)
    links = nlp.get_pipe("fgen_links")
    doc = unlinked(make_doc(nlp))
    dc = links.doc_candidates(doc)
    wanted = {("Knockdown of ATG12", "inhibits", "tumorigenesis"), ("Overexpression of ZNNT1", "promotes", "autophagy"),
              ("Overexpression of ZNNT1", "reduces", "migration")}
    probs = numpy.asarray([0.9 if (dc.entities[c[0]].text, dc.entities[c[2]].text, dc.entities[c[3]].text) in wanted else 0.2
                           for c in dc.candidates])
    pair_probs = numpy.full((len(dc.candidates), 6), 0.3)
    links.set_annotations([doc], [DocScores(dc, probs, pair_probs)])
    assert statements(doc) == gold_statements(nlp)
    assert all(set(link) == set(ROLES) for link in doc._.links)
    assert doc._.link_scores == pytest.approx([0.9, 0.9, 0.9])
    # pairs: every entity pair of a role pair that occurs in a candidate, once
    pairs = doc._.link_pairs
    # sentence 1: 6 pairs; sentence 2: PA-CTX 1, PA-EFF 2, PA-PHE 2, CTX-EFF 2, CTX-PHE 2, EFF-PHE 4
    assert len(pairs) == len({(a.start, b.start) for a, b, _ in pairs}) == 6 + 13
    assert all(p == pytest.approx(0.3) for _, _, p in pairs)
    # a higher threshold keeps fewer statements
    links.cfg["threshold"] = 0.95
    links.set_annotations([doc], [DocScores(dc, probs, pair_probs)])
    assert doc._.links == [] and doc._.link_scores == []


def test_overfit_and_round_trip(trained: Language, tmp_path: Path):
    doc = trained(unlinked(make_doc(trained)))
    assert statements(doc) == gold_statements(trained)
    # decoding keeps only scores >= threshold; an overfit model is sure of all three
    assert len(doc._.link_scores) == 3 and min(doc._.link_scores) > 0.95
    pair_scores = {(a.text, b.text): p for a, b, p in doc._.link_pairs}
    assert pair_scores[("Overexpression of ZNNT1", "promotes")] > 0.5
    assert pair_scores[("promotes", "migration")] < 0.5
    trained.to_disk(tmp_path / "model")
    reloaded = spacy.load(tmp_path / "model")
    again = reloaded(unlinked(make_doc(reloaded)))
    assert statements(again) == statements(doc)
    assert again._.link_scores == pytest.approx(doc._.link_scores, abs=1e-6)
    assert [p for *_, p in again._.link_pairs] == pytest.approx([p for *_, p in doc._.link_pairs], abs=1e-6)


def test_empty_and_degenerate_docs(trained: Language):
    empty = trained(trained.make_doc(""))
    assert empty._.links == [] and empty._.link_pairs == []
    no_ents = trained(trained.make_doc("Nothing to link here."))
    assert no_ents._.links == []
    missing = make_doc(trained, ents={k: v for k, v in ENTS.items() if v[1] != CTX}, links=[])
    assert trained(missing)._.links == []  # no CONTEXT: no statement can be complete
    long_text = " ".join([TEXT] * 40)
    long_doc = trained(long_text)
    assert long_doc._.links == []  # entities come from an upstream NER; none here
    batch = list(trained.pipe([unlinked(make_doc(trained)), trained.make_doc(""), missing]))
    assert statements(batch[0]) == gold_statements(trained) and batch[1]._.links == []


def test_long_doc_with_entities(trained: Language):
    # 30 copies of the text: 60 sentences, every statement found in each copy
    text = " ".join([TEXT] * 30)
    doc = trained.make_doc(text)
    spans = []
    offset = 0
    for _ in range(30):
        for piece, label in ENTS.values():
            start = text.index(piece, offset)
            spans.append(doc.char_span(start, start + len(piece), label=label))
        offset += len(TEXT) + 1
    doc.spans[SPAN_KEY] = sorted(spans, key=lambda s: s.start)
    doc = trained(doc)
    assert len(doc._.links) == 30 * len(GOLD)


def test_unannotated_docs_are_not_negatives():
    spacy.util.fix_random_seed(0)
    nlp = make_pipeline()
    doc = make_doc(nlp)
    nlp.initialize(lambda: [Example(unlinked(doc), doc)])
    not_annotated = make_doc(nlp, links=[], annotated=False)
    links = nlp.get_pipe("fgen_links")
    before = links.model.to_bytes()
    losses = links.update([Example(unlinked(not_annotated), not_annotated)], sgd=nlp.create_optimizer())
    assert losses["fgen_links"] == 0.0 and links.model.to_bytes() == before
    # in a mixed batch only the annotated doc gives candidates
    per_doc, gold = links._gold([Example(unlinked(not_annotated), not_annotated), Example(unlinked(doc), doc)])
    assert per_doc[0].candidates == [] and gold.shape == (5, 7) and gold[:, 0].sum() == 3


def test_shared_tok2vec_learns_when_links_skip_a_batch():
    # The links component is the shared tok2vec's last listener: when it skips a batch (no
    # link-annotated doc) it must still pass a gradient back, or the tok2vec gets no update
    # from the NER's gradient either.
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": tiny_tok2vec()})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 32, "upstream": "tok2vec"}
    nlp.add_pipe("fgen_ner", config={"model": {"@architectures": "fgen.ner_tagger.v1", "tok2vec": listener}})
    nlp.add_pipe("fgen_links", config={"model": {**SMALL_MODEL, "tok2vec": listener}})
    doc = make_doc(nlp)
    optimizer = nlp.initialize(lambda: [Example(unlinked(doc), doc)])
    assert nlp.get_pipe("tok2vec").listening_components == ["fgen_ner", "fgen_links"]
    not_annotated = make_doc(nlp, links=[], annotated=False)
    tok2vec, links = nlp.get_pipe("tok2vec").model, nlp.get_pipe("fgen_links")
    before, links_before = tok2vec.to_bytes(), links.model.get_ref("scorer").to_bytes()
    # nlp.update applies the tok2vec's gradients at its finish_update of the next step, so two
    for _ in range(2):
        losses = nlp.update([Example(unlinked(not_annotated), not_annotated)], sgd=optimizer)
        assert losses["fgen_links"] == 0.0 and losses["fgen_ner"] > 0.0
    assert links.model.get_ref("scorer").to_bytes() == links_before  # nothing learned by the links
    assert tok2vec.to_bytes() != before


def test_train_on_gold_and_predicted_entities():
    nlp = make_pipeline(train_on="gold+predicted")
    gold = make_doc(nlp)
    predicted = unlinked(make_doc(nlp, ents={**ENTS, "but": ("but", CTX)}, links=[]))
    per_doc, labels = nlp.get_pipe("fgen_links")._gold([Example(predicted, gold)])
    # the spurious CONTEXT adds 4 negative candidates; the 3 gold statements stay positive
    assert len(per_doc[0].candidates) == 9 and labels[:, 0].sum() == 3
    with pytest.raises(ValueError):
        make_pipeline(train_on="predicted")


def test_initialize_needs_candidates():
    nlp = make_pipeline()
    doc = make_doc(nlp, links=[], annotated=False)
    with pytest.raises(ValueError, match="no training example"):
        nlp.initialize(lambda: [Example(unlinked(doc), doc)])


def test_features_only_model_overfits_and_round_trips(tmp_path: Path):
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("fgen_links", config={"model": {**SMALL_MODEL, "entity_width": 0}})
    doc = make_doc(nlp)
    train(nlp, [Example(unlinked(doc), doc)])
    predicted = nlp(unlinked(make_doc(nlp)))
    assert statements(predicted) == gold_statements(nlp)
    nlp.to_disk(tmp_path / "model")
    again = spacy.load(tmp_path / "model")(unlinked(make_doc(nlp)))
    assert again._.link_scores == pytest.approx(predicted._.link_scores, abs=1e-6)
