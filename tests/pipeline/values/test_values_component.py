"""Tests for the entity-value component `fgen_values` and its scorer."""
import json
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.ml.models import MultiHashEmbed
from spacy.training import Example
from thinc.api import Model
from thinc.types import Floats2d

import fgen  # noqa: F401  registers span._.value_confidence
from fgen.doc_layout import SPAN_KEY
from fgen.corpus.schemes import load_scheme
from fgen.pipeline.values.values_component import FgenValues, scheme_labels
from fgen.pipeline.values.values_model import build_lexical_value_model, build_value_model
from fgen.pipeline.values.values_scorer import score_values

from ...conftest import V1_CATEGORIES, V1_VALUES, V2_CATEGORIES, V2_VALUES, tiny_tok2vec

PA, PH = "PERTURBING_ACTION", "PHENOTYPE"
GAIN, KD = "gene gain-of-function", "rnai/knockdown"
Ent = Tuple[str, str, str]  # text piece, label, value

TRAIN: List[Tuple[str, List[Ent]]] = [
    ("Overexpression of ZNNT1 promotes autophagy in cells.", [("Overexpression of ZNNT1", PA, GAIN), ("autophagy", PH, "autophagy")]),
    ("Knockdown of ATG5 reduced migration.", [("Knockdown of ATG5", PA, KD), ("migration", PH, "migration")]),
    ("Silencing BECN1 blocked tumourigenesis in mice.", [("Silencing BECN1", PA, KD), ("tumourigenesis", PH, "tumourigenesis")]),
    ("Overexpression of MYC increased migration and autophagy.", [("Overexpression of MYC", PA, GAIN), ("migration", PH, "migration"), ("autophagy", PH, "autophagy")]),
]
SMALL_MODEL = {
    "@architectures": "fgen.value_model.v1",
    "hidden_width": 32,
    "dropout": 0.0,
    "tok2vec": tiny_tok2vec(),
}


def make_doc(nlp: Language, text: str, ents: Sequence[Ent], set_ents: bool = True, group: bool = True) -> Doc:
    """A doc with the given entities (ids T0, T1, ...) in `doc.spans["fgen"]` and/or `doc.ents`."""
    doc = nlp.make_doc(text)
    spans = []
    for i, (piece, label, value) in enumerate(ents):
        start = text.index(piece)
        spans.append(doc.char_span(start, start + len(piece), label=label, kb_id=value, span_id=f"T{i}"))
    if group:
        doc.spans[SPAN_KEY] = spans
    if set_ents:
        doc.ents = spans
    return doc


def without_values(nlp: Language, text: str, ents: Sequence[Ent], **kwargs) -> Doc:
    return make_doc(nlp, text, [(piece, label, "") for piece, label, _ in ents], **kwargs)


def kb_ids(spans: Sequence[Span]) -> List[Tuple[str, str, str, str]]:
    return [(s.text, s.label_, s.kb_id_, s.id_) for s in spans]


@pytest.fixture(scope="module")
def definitions(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("defs")
    for name, data in [
        ("tag_categories_v2.json", V2_CATEGORIES),
        ("tag_list_definitions_v2.json", V2_VALUES),
        ("tag_categories.json", V1_CATEGORIES),
        ("tag_list_definitions.json", V1_VALUES),
    ]:
        (root / name).write_text(json.dumps(data))
    return root


def new_nlp(definitions: Path) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("fgen_values", config={"model": SMALL_MODEL})
    nlp.config["initialize"]["components"]["fgen_values"] = {"definitions": str(definitions), "scheme": "v2"}
    return nlp


def train_examples(nlp: Language) -> List[Example]:
    # predicted docs hold no entities: training reads the reference's
    return [Example(nlp.make_doc(text), make_doc(nlp, text, ents)) for text, ents in TRAIN]


@pytest.fixture(scope="module")
def trained(definitions: Path) -> Tuple[Language, List[float]]:
    nlp = new_nlp(definitions)
    examples = train_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    history = []
    for _ in range(60):
        losses = nlp.update(examples, sgd=optimizer)
        history.append(losses["fgen_values"])
    return nlp, history


def test_labels_from_scheme_and_data(definitions: Path):
    nlp = new_nlp(definitions)
    examples = train_examples(nlp)
    examples.append(Example(nlp.make_doc("Ferroptosis."), make_doc(nlp, "Ferroptosis.", [("Ferroptosis", PH, "ferroptosis")])))
    nlp.initialize(lambda: examples)
    labels = nlp.get_pipe("fgen_values").value_labels
    v2 = scheme_labels(load_scheme(definitions, "v2"))
    assert list(labels) == v2 + [(PH, "ferroptosis")]  # the scheme's, then new ones seen in training
    assert (PH, "-") in labels and (PH, "tumourigenesis") in labels
    pipe = spacy.blank("en").add_pipe("fgen_values", config={"model": SMALL_MODEL})
    pipe.initialize(lambda: examples[:1], labels=nlp.get_pipe("fgen_values").label_data)
    assert pipe.value_labels == labels
    assert pipe.labels[0] == "=".join(labels[0])  # strings for spaCy's meta


def test_multi_field_scheme_labels_are_joined(definitions: Path):
    labels = scheme_labels(load_scheme(definitions, "v1"))
    context = [value for cat, value in labels if cat == "CONTEXT"]
    assert len(context) == len(V1_VALUES["experiment_type"]) * len(V1_VALUES["species"])
    assert "transformed cell line|not stated" in context


def test_overfit(trained):
    nlp, history = trained
    assert history[-1] < 0.05 < history[0]
    for text, ents in TRAIN:
        doc = nlp(without_values(nlp, text, ents))
        gold = make_doc(nlp, text, ents)
        assert kb_ids(doc.spans[SPAN_KEY]) == kb_ids(gold.spans[SPAN_KEY])
        assert kb_ids(doc.ents) == kb_ids(gold.ents)
        assert all(span._.value_confidence > 0.5 for span in doc.ents)


def test_predictions_stay_in_category(definitions: Path):
    nlp = new_nlp(definitions)  # untrained: any value must still come from the category's list
    nlp.initialize(lambda: train_examples(nlp))
    scheme = load_scheme(definitions, "v2")
    docs = list(nlp.pipe(without_values(nlp, text, ents) for text, ents in TRAIN))
    for doc in docs:
        for span in doc.spans[SPAN_KEY]:
            assert span.kb_id_ in scheme.category(span.label_).fields[0].values
            assert 0.0 < span._.value_confidence <= 1.0


def test_round_trip(trained, tmp_path: Path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "pipe")
    nlp2 = spacy.load(tmp_path / "pipe")
    assert nlp2.get_pipe("fgen_values").value_labels == nlp.get_pipe("fgen_values").value_labels
    for text, ents in TRAIN:
        a, b = nlp(without_values(nlp, text, ents)), nlp2(without_values(nlp2, text, ents))
        assert kb_ids(a.ents) == kb_ids(b.ents)
        assert [s._.value_confidence for s in a.ents] == pytest.approx([s._.value_confidence for s in b.ents])


def test_unseen_value_and_unknown_category(trained):
    nlp, _ = trained
    pipe: FgenValues = nlp.get_pipe("fgen_values")
    text = "Knockdown of ATG5 reduced sporulation in yeast."
    ents = [("Knockdown of ATG5", PA, "never heard of"), ("sporulation", PH, "sporulation"), ("yeast", "SPECIES", "yeast")]
    losses = pipe.update([Example(nlp.make_doc(text), make_doc(nlp, text, ents))])  # no sgd: weights unchanged
    assert losses["fgen_values"] == 0.0  # no gold value is a label: nothing learned, no crash
    doc = nlp(make_doc(nlp, text, ents))  # stale, unknown values are overwritten
    pa, ph, species = doc.spans[SPAN_KEY]
    assert pa.kb_id_ in (GAIN, KD, "-") and ph.kb_id_ in V2_VALUES["phenotype"]
    assert (species.kb_id_, species._.value_confidence, species.id_) == ("", None, "T2")


def test_empty_docs_and_docs_without_entities(trained):
    nlp, _ = trained
    empty_ents = nlp.make_doc("Nothing here.")
    empty_ents.ents = []
    docs = [nlp.make_doc(""), nlp.make_doc("No entities at all."), empty_ents]
    docs = list(nlp.pipe(docs, batch_size=2))
    assert [len(doc.spans[SPAN_KEY]) for doc in docs] == [0, 0, 0]
    assert not docs[1].has_annotation("ENT_IOB")  # doc.ents stays unset
    losses = nlp.get_pipe("fgen_values").update([Example(doc, doc.copy()) for doc in docs])
    assert losses["fgen_values"] == 0.0


def test_entities_from_ents_or_span_group(trained):
    nlp, _ = trained
    text, ents = TRAIN[1]
    doc = nlp(without_values(nlp, text, ents, group=False))  # only doc.ents (e.g. from a NER)
    assert [s.kb_id_ for s in doc.ents] == [KD, "migration"]
    assert kb_ids(doc.spans[SPAN_KEY]) == kb_ids(doc.ents)
    overlapping = [("Knockdown of ATG5", PA, ""), ("ATG5", PA, "")]  # V1-like: group only
    doc = nlp(without_values(nlp, text, overlapping, set_ents=False))
    assert [s.text for s in doc.spans[SPAN_KEY]] == ["Knockdown of ATG5", "ATG5"]
    assert all(s.kb_id_ and s._.value_confidence for s in doc.spans[SPAN_KEY])
    assert not doc.has_annotation("ENT_IOB")


def test_threshold(trained, tmp_path: Path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "pipe")
    nlp2 = spacy.load(tmp_path / "pipe")
    nlp2.get_pipe("fgen_values").cfg["threshold"] = 1.01  # saved in the component's cfg
    text, ents = TRAIN[0]
    doc = nlp2(without_values(nlp2, text, ents))
    assert [s.kb_id_ for s in doc.ents] == ["", ""]
    assert all(s._.value_confidence > 0.5 for s in doc.ents)


def test_scorer_exact_numbers():
    nlp = spacy.blank("en")
    text = "Knockdown of ATG5 reduced migration and autophagy."
    gold = make_doc(nlp, text, [("Knockdown of ATG5", PA, KD), ("migration", PH, "migration"), ("autophagy", PH, "autophagy")])
    # right value; wrong value on a right span; an extra span; one gold span missed
    pred = make_doc(nlp, text, [("Knockdown of ATG5", PA, KD), ("migration", PH, "autophagy"), ("ATG5", PA, GAIN)], set_ents=False)
    empty = nlp.make_doc("Nothing.")
    scores = score_values([Example(pred, gold), Example(empty, empty.copy())])
    assert scores["values_p"] == pytest.approx(1 / 3)
    assert scores["values_r"] == pytest.approx(1 / 3)
    assert scores["values_f"] == pytest.approx(1 / 3)
    assert scores["values_acc"] == pytest.approx(1 / 2)
    per_type = scores["values_per_type"]
    assert per_type[PA] == pytest.approx({"p": 0.5, "r": 1.0, "f": 2 / 3, "acc": 1.0})
    assert per_type[PH] == pytest.approx({"p": 0.0, "r": 0.0, "f": 0.0, "acc": 0.0})
    nothing = score_values([Example(empty, empty.copy())])
    assert nothing["values_f"] is None and nothing["values_acc"] is None


def blind_tok2vec(width: int = 8) -> Model[List[Doc], List[Floats2d]]:
    """Token vectors that say nothing about the words: the limit of a shared tok2vec that the
    entity tagger trains to treat all words of a category alike."""

    def forward(model: Model, docs: List[Doc], is_train: bool):
        return [model.ops.alloc2f(len(doc), width) for doc in docs], lambda d_vectors: []

    return Model("blind_tok2vec", forward)


@pytest.mark.parametrize("lexical_width,learns", [(0, False), (16, True)])
def test_values_learned_from_the_words_when_shared_vectors_lack_them(definitions: Path, lexical_width: int, learns: bool):
    """v1 sees only the shared vectors, so it cannot tell "migration" from "autophagy" when
    they carry no word identity; v2's own embeddings of the words can."""
    if lexical_width:
        lexical = MultiHashEmbed(width=lexical_width, attrs=["NORM", "PREFIX", "SUFFIX", "SHAPE"], rows=[500, 100, 100, 50], include_static_vectors=False)
        model = build_lexical_value_model(blind_tok2vec(), lexical, hidden_width=32, dropout=0.0)
    else:
        model = build_value_model(blind_tok2vec(), hidden_width=32, dropout=0.0)
    nlp = spacy.blank("en")
    pipe = FgenValues(nlp.vocab, model)
    examples = train_examples(nlp)
    pipe.initialize(lambda: examples, definitions=definitions, scheme="v2")
    optimizer = pipe.create_optimizer()
    for _ in range(60):
        pipe.update(examples, sgd=optimizer)
    docs = [pipe(without_values(nlp, text, ents)) for text, ents in TRAIN]
    right = [kb_ids(doc.spans[SPAN_KEY]) == kb_ids(gold.reference.spans[SPAN_KEY]) for doc, gold in zip(docs, examples)]
    assert all(right) is learns


@pytest.fixture(scope="module")
def trained_lexical(definitions: Path) -> Language:
    nlp = spacy.blank("en")
    lexical = {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": ["NORM", "SHAPE"], "rows": [500, 50], "include_static_vectors": False}
    model = {"@architectures": "fgen.value_model.v2", "hidden_width": 32, "dropout": 0.0, "tok2vec": tiny_tok2vec(), "lexical": lexical}
    nlp.add_pipe("fgen_values", config={"model": model})
    examples = train_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    return nlp


def test_lexical_model_overfits_and_round_trips(trained_lexical: Language, tmp_path: Path):
    nlp = trained_lexical
    nlp.to_disk(tmp_path / "pipe")
    nlp2 = spacy.load(tmp_path / "pipe")
    for text, ents in TRAIN:
        a, b = nlp(without_values(nlp, text, ents)), nlp2(without_values(nlp2, text, ents))
        assert kb_ids(a.ents) == kb_ids(b.ents) == kb_ids(make_doc(nlp, text, ents).ents)
        assert [s._.value_confidence for s in a.ents] == pytest.approx([s._.value_confidence for s in b.ents])
