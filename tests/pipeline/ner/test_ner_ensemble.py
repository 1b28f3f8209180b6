"""fgen.ner_ensemble.v1 (averaged taggers, one CRF), pipelines assembled into one with
fgen.shared_encoder_features.v1, and scripts/assemble_ensemble.py."""
import json
import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

import fgen  # noqa: F401  registers span._.confidence
from fgen.pipeline.layers import encoder_features, shared_features
from fgen.pipeline.layers.encoder_features import (
    create_fine_tune_callback, disable_fine_tuning, pipeline_features_nodes,
)
from fgen.pipeline.ner.ensemble_assembly import assemble_ner_ensemble
from fgen.pipeline.ner.ner_ensemble import ensemble_members
from fgen.pipeline.ner.ner_model import get_torch_module

from ...conftest import run_script, tiny_tok2vec
from ..layers.test_encoder_features import (  # noqa: F401  (tiny_bert: a fixture)
    TRAIN_DATA, disable_caches, examples_for, make_nlp, tiny_bert, tok2vec_config, train_with_cache,
)

TEXTS = [text for text, _ in TRAIN_DATA]


def tagger(tok2vec: dict) -> dict:
    return {"@architectures": "fgen.ner_tagger.v1", "hidden_width": 0, "tok2vec": tok2vec}


def entities(docs):
    return [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents] for doc in docs]


def train_features_pipeline(encoder, seed: int, steps: int = 40) -> spacy.Language:
    """tok2vec on the tiny BERT's frozen features + fgen_ner, trained with the feature cache on
    (then turned off)."""
    nlp = train_with_cache(encoder, seed, steps)
    disable_caches(nlp)
    return nlp


def shared_readers(nlp):
    """The members' `fgen.shared_encoder_features.v1` layers in an assembled pipeline."""
    return [node for node in nlp.get_pipe("fgen_ner").model.walk() if node.name == "shared_encoder_features"]


def emissions(nlp, texts=TEXTS):
    docs = [nlp.make_doc(text) for text in texts]
    nlp.get_pipe("tok2vec").set_annotations(docs, nlp.get_pipe("tok2vec").predict(docs))
    return nlp.get_pipe("fgen_ner").model.predict(docs)


@pytest.fixture(scope="module")
def members(tiny_bert):  # noqa: F811
    """Two pipelines of other seeds, their emissions and CRFs (before assembly takes them apart),
    and their ensemble."""
    pipelines = [train_features_pipeline(tiny_bert, seed) for seed in (0, 1)]
    scores = [emissions(nlp) for nlp in pipelines]
    crfs = [get_torch_module(nlp.get_pipe("fgen_ner").model).crf.transitions.detach().clone() for nlp in pipelines]
    return {"scores": scores, "crfs": crfs, "ensemble": assemble_ner_ensemble(pipelines, entity_bias=0.5)}


def test_joint_training_overfits_and_round_trips(tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    model = {"@architectures": "fgen.ner_ensemble.v1", "*": {"a": tagger(tiny_tok2vec(500)), "b": tagger(tiny_tok2vec(400))}}
    nlp.add_pipe("fgen_ner", config={"model": model})
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    docs = list(nlp.pipe(TEXTS))
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs] == [ents for _, ents in TRAIN_DATA]
    nlp.to_disk(tmp_path / "model")
    assert entities(spacy.load(tmp_path / "model").pipe(TEXTS)) == entities(docs)


def test_emissions_are_the_members_mean_and_the_crf_their_mean(members):
    nlp = members["ensemble"]
    mean = [(a + b) / 2 for a, b in zip(*members["scores"])]
    for got, expected in zip(emissions(nlp), mean):
        numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    crf = get_torch_module(nlp.get_pipe("fgen_ner").model).crf
    torch.testing.assert_close(crf.transitions, (members["crfs"][0] + members["crfs"][1]) / 2)
    assert nlp.get_pipe("fgen_ner").cfg["entity_bias"] == 0.5


def test_the_encoder_runs_once_per_doc(members, monkeypatch):
    calls = []
    original = encoder_features.pooled_windows
    def counted(model, docs, layers, **options):
        calls.append(len(docs))
        return original(model, docs, layers, **options)

    monkeypatch.setattr(encoder_features, "pooled_windows", counted)
    nlp = members["ensemble"]
    assert len(pipeline_features_nodes(nlp)) == 1  # one encoder stored, in the shared tok2vec
    docs = list(nlp.pipe(TEXTS, batch_size=1))
    assert sum(calls) == len(TEXTS)
    # the members read the features from each doc, and the ensemble drops them once read
    assert not any(shared_features.has_shared_features(doc) for doc in docs)


def test_round_trip_and_batching_give_the_same_entities(members, tmp_path):
    nlp = members["ensemble"]
    expected = entities(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "ensemble")
    loaded = spacy.load(tmp_path / "ensemble")
    assert entities(loaded.pipe(TEXTS)) == expected
    assert len(ensemble_members(loaded.get_pipe("fgen_ner").model)) == 2
    # fgen_ner in larger batches than tok2vec, and the other way round: each doc carries its features
    for component_cfg in ({"fgen_ner": {"batch_size": 3}}, {"tok2vec": {"batch_size": 3}}):
        rebatched = entities(loaded.pipe(TEXTS, batch_size=1, component_cfg=component_cfg))
        assert [[ent[:3] for ent in doc] for doc in rebatched] == [[ent[:3] for ent in doc] for doc in expected]
        assert [ent[3] for doc in rebatched for ent in doc] == \
               pytest.approx([ent[3] for doc in expected for ent in doc], rel=1e-4, abs=1e-5)
    assert entities(loaded.pipe(["", *TEXTS])) == [[], *expected]


def test_two_pipelines_in_one_process_read_their_own_features(members, tmp_path):
    """A pipeline and a copy with other encoder weights (as fine-tuning makes it: the features keep
    their name), run interleaved, predict what each predicts loaded alone."""
    members["ensemble"].to_disk(tmp_path / "ensemble")
    first = spacy.load(tmp_path / "ensemble")
    expected_first = emissions(first)
    second = spacy.load(tmp_path / "ensemble")
    (publisher,) = pipeline_features_nodes(second)
    with torch.no_grad():
        for tensor in encoder_features.torch_module(publisher.layers[0]).parameters():
            tensor.add_(torch.randn_like(tensor) * 0.1)
    expected_second = emissions(second)
    assert not all(numpy.allclose(a, b, atol=1e-3) for a, b in zip(expected_first, expected_second))
    docs = {nlp: [nlp.make_doc(text) for text in TEXTS] for nlp in (first, second)}
    for nlp in (first, second):  # both publish before either reads
        nlp.get_pipe("tok2vec").set_annotations(docs[nlp], nlp.get_pipe("tok2vec").predict(docs[nlp]))
    for nlp, expected in ((first, expected_first), (second, expected_second)):
        for got, want in zip(nlp.get_pipe("fgen_ner").model.predict(docs[nlp]), expected):
            numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # a reader of a name its pipeline does not publish reads nothing, whatever another publishes
    (own,) = pipeline_features_nodes(first)
    own.attrs["shared_as"] = "renamed"
    second_docs = [second.make_doc(text) for text in TEXTS]
    second.get_pipe("tok2vec").predict(second_docs)
    first_docs = [first.make_doc(text) for text in TEXTS]
    first.get_pipe("tok2vec").set_annotations(first_docs, first.get_pipe("tok2vec").predict(first_docs))
    with pytest.raises(ValueError, match="run that component first"):
        first.get_pipe("fgen_ner").model.predict(first_docs)


def test_without_the_shared_encoder_it_says_what_is_missing(members):
    nlp = members["ensemble"]
    with pytest.raises(ValueError, match="run that component first"):
        nlp.get_pipe("fgen_ner").model.predict([nlp.make_doc(TEXTS[0])])


def test_members_must_share_labels_and_encoder(tiny_bert):  # noqa: F811
    first = train_features_pipeline(tiny_bert, 0, steps=1)
    other_layers = make_nlp(tiny_bert, with_ner=True, layers=(-1,))
    other_layers.initialize(lambda: examples_for(other_layers))
    with pytest.raises(ValueError, match="another encoder"):
        assemble_ner_ensemble([first, other_layers])
    other_labels = make_nlp(tiny_bert, with_ner=True)
    cells = [Example.from_dict(other_labels.make_doc(text), {"entities": [(a, b, "CELL") for a, b, _ in ents]})
             for text, ents in TRAIN_DATA]
    other_labels.initialize(lambda: cells)
    with pytest.raises(ValueError, match="other labels"):
        assemble_ner_ensemble([first, other_labels])
    with pytest.raises(ValueError, match="at least two"):
        assemble_ner_ensemble([first])


def test_script_writes_a_loadable_ensemble_or_fails_clearly(tiny_bert, tmp_path):  # noqa: F811
    for seed in (0, 1):
        member = train_features_pipeline(tiny_bert, seed, steps=2)
        member.meta["performance"] = {"ents_f": 0.5 + seed / 10}  # as `spacy train` records the dev scores
        member.to_disk(tmp_path / f"m{seed}")
    result = run_script("assemble_ensemble", tmp_path / "m0", tmp_path / "m1", "--output", tmp_path / "ens",
                        "--entity-bias", "1.5")
    assert result.returncode == 0, result.stderr
    loaded = spacy.load(tmp_path / "ens")
    assert loaded.get_pipe("fgen_ner").cfg["entity_bias"] == 1.5
    # the config says what the component decodes with, and a load-time override wins
    saved_cfg = json.loads((tmp_path / "ens" / "fgen_ner" / "cfg").read_text())
    config_ner = loaded.config["components"]["fgen_ner"]
    for knob in ("entity_bias", "threshold", "length_bias"):
        assert config_ner[knob] == saved_cfg[knob] == loaded.get_pipe("fgen_ner").cfg[knob], knob
    overridden = spacy.load(tmp_path / "ens", config={"components": {"fgen_ner": {"entity_bias": -2.0}}})
    assert overridden.get_pipe("fgen_ner").cfg["entity_bias"] == -2.0
    assert overridden.config["components"]["fgen_ner"]["entity_bias"] == -2.0
    # the first member's dev scores are not the ensemble's: no performance until it is evaluated
    assert spacy.load(tmp_path / "m0").meta.get("performance") and not loaded.meta.get("performance")
    # Runs of scripts/train_seeds.py (RUN, RUN_seed1, ...) name their members by seed.
    for seed, run in ((0, "run"), (1, "run_seed1")):
        (tmp_path / run).mkdir()
        (tmp_path / f"m{seed}").rename(tmp_path / run / "model-best")
    by_seeds = run_script("assemble_ensemble", tmp_path / "run", "--seeds", "0,1", "--output", tmp_path / "ens2",
                          "--entity-bias", "1.5")
    assert by_seeds.returncode == 0, by_seeds.stderr
    docs = list(spacy.load(tmp_path / "ens2").pipe(TEXTS))
    assert entities(docs) == entities(loaded.pipe(TEXTS))
    # One seed: that pipeline, unchanged (the ensemble's bias is for averages).
    single = run_script("assemble_ensemble", tmp_path / "run", "--seeds", "0", "--output", tmp_path / "one",
                        "--entity-bias", "1.5")
    assert single.returncode == 0 and "written unchanged" in single.stdout, single.stderr
    one = spacy.load(tmp_path / "one")
    assert one.get_pipe("fgen_ner").cfg == spacy.load(tmp_path / "run" / "model-best").get_pipe("fgen_ner").cfg
    missing = run_script("assemble_ensemble", tmp_path / "run", "--seeds", "0,2", "--output", tmp_path / "none")
    assert missing.returncode == 1 and "run_seed2/model-best" in missing.stdout
    assert not (tmp_path / "none").exists()
    blank = spacy.blank("en")
    blank.to_disk(tmp_path / "blank")
    failed = run_script("assemble_ensemble", tmp_path / "run" / "model-best", tmp_path / "blank",
                        "--output", tmp_path / "bad")
    assert failed.returncode == 1 and "has no component 'tok2vec'" in failed.stdout
    assert not (tmp_path / "bad").exists()


def test_fine_tuning_the_shared_encoder_keeps_the_members_reading_it(tiny_bert, tmp_path):  # noqa: F811
    pipelines = [train_features_pipeline(tiny_bert, seed, steps=5) for seed in (0, 1)]
    nlp = assemble_ner_ensemble(pipelines)
    examples = examples_for(nlp)
    optimizer = nlp.resume_training()
    fine_tune = create_fine_tune_callback()
    for step in range(3):
        fine_tune(nlp, {"step": step})
        nlp.update(examples, sgd=optimizer)
    (publisher,) = pipeline_features_nodes(nlp)
    (reader, *_) = shared_readers(nlp)
    docs = [nlp.make_doc(text) for text in TEXTS]
    live = publisher.predict(docs)  # the encoder's new weights
    for got, expected in zip(reader.predict(docs), live):
        numpy.testing.assert_array_equal(got, expected)
    expected_ents = entities(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "fine-tuned")
    assert entities(spacy.load(tmp_path / "fine-tuned").pipe(TEXTS)) == expected_ents
    disable_fine_tuning(publisher)


def test_members_with_spacys_bilstm_are_assembled_batch_independent(tiny_bert):  # noqa: F811
    """Pipelines trained before fgen.bilstm_encoder.v1 (spaCy's BiLSTM reads the batch's padding)
    are assembled with it: same weights, so a doc alone gets what it got; in a batch, the same."""
    pipelines = []
    for seed in (0, 1):
        fix_random_seed(seed)
        nlp = spacy.blank("en")
        tok2vec = tok2vec_config(tiny_bert)
        tok2vec["encode"]["@architectures"] = "spacy.TorchBiLSTMEncoder.v1"
        nlp.add_pipe("tok2vec", config={"model": tok2vec})
        nlp.add_pipe("fgen_ner", config={"model": tagger({"@architectures": "spacy.Tok2VecListener.v1", "width": 32, "upstream": "tok2vec"})})
        nlp.initialize(lambda: examples_for(nlp))
        pipelines.append(nlp)
    doc = pipelines[0].make_doc(TEXTS[0])
    alone_before = pipelines[0].get_pipe("tok2vec").predict([doc])[0]
    ensemble = assemble_ner_ensemble(pipelines)
    assert "spacy.TorchBiLSTMEncoder.v1" not in ensemble.config.to_str()
    assert ensemble.config.to_str().count("fgen.bilstm_encoder.v1") == 2  # the shared tok2vec and member 1's
    tok2vec = ensemble.get_pipe("tok2vec")
    numpy.testing.assert_allclose(tok2vec.predict([ensemble.make_doc(TEXTS[0])])[0], alone_before, atol=1e-6)
    mixed = [TEXTS[0], " ".join(TEXTS), TEXTS[1]]
    batched = [tok2vec.predict([ensemble.make_doc(t) for t in mixed])[i] for i in range(len(mixed))]
    for text, features in zip(mixed, batched):
        numpy.testing.assert_allclose(features, tok2vec.predict([ensemble.make_doc(text)])[0], atol=1e-5)


def test_batch_independent_config_keeps_its_references():
    from thinc.api import Config

    from fgen.pipeline.ner.ensemble_assembly import _batch_independent

    config = Config().from_str(
        "[model]\n@architectures = \"spacy.Tok2Vec.v2\"\n\n[model.embed]\nwidth = ${model.encode.width}\n\n"
        "[model.encode]\n@architectures = \"spacy.TorchBiLSTMEncoder.v1\"\nwidth = 8\ndepth = 1\ndropout = 0.0\n",
        interpolate=False,
    )
    upgraded = _batch_independent(config)
    assert upgraded["model"]["encode"]["@architectures"] == "fgen.bilstm_encoder.v1"
    assert upgraded.interpolate()["model"]["embed"]["width"] == 8
