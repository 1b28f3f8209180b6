"""One pipeline from several trained on the same frozen encoder: their `fgen_ner` taggers become
the members of an `fgen.ner_ensemble.v1`.

The first pipeline gives everything but the tagger's other members: tokenizer, vocab, the shared
`tok2vec` (which runs the encoder), values and statements, and the first member (its tagger, on
the shared tok2vec through its listener). Every further pipeline gives a member made of its own
tok2vec (hash embeddings, Maxout, BiLSTM) and tagger, whose encoder features are read from the
first pipeline's encoder (`fgen.shared_encoder_features.v1`): the members must have been trained
on the same encoder and layers, and the assembled pipeline stores the encoder once.

Members trained with spaCy's `spacy.TorchBiLSTMEncoder.v1` get `fgen.bilstm_encoder.v1` in the
assembled config: the same weights and serialized form, but each doc read alone, so a doc's
entities do not depend on the other docs of its batch (bilstm.py).
"""
import copy
from typing import Any, Dict, Optional, Sequence

from spacy.language import Language
from spacy.util import load_model_from_config
from thinc.api import Config, Model

from fgen.pipeline.layers.encoder_features import feature_signature, features_node
from fgen.pipeline.layers.shared_features import build_shared_encoder_features
from fgen.pipeline.ner.ner_component import CONFIGURED_DECODING, DECODING_SETTINGS
from fgen.pipeline.ner.ner_ensemble import average_member_crfs, ensemble_members

SHARED_FEATURES = "fgen.shared_encoder_features.v1"
# spaCy's BiLSTM (reads the batch's padding) -> fgen's, with the same arguments and weights.
BATCH_INDEPENDENT = {"spacy.TorchBiLSTMEncoder.v1": "fgen.bilstm_encoder.v1"}


def assemble_ner_ensemble(
    pipelines: Sequence[Language],
    *,
    tok2vec: str = "tok2vec",
    ner: str = "fgen_ner",
    entity_bias: Optional[float] = None,
) -> Language:
    """A new pipeline whose `ner` component averages the taggers of `pipelines`.

    pipelines (Sequence[Language]): trained pipelines, each with `tok2vec` (on an
        `fgen.encoder_features.v1` encoder) and `ner`, the same labels and tag scheme. The second
        and later are taken apart: do not use them afterwards.
    tok2vec (str): the shared token encoder's component name.
    ner (str): the `fgen_ner` component's name.
    entity_bias (Optional[float]): the ensemble's entity_bias (None: the first pipeline's).
    RETURNS (Language): the assembled pipeline (save it with `to_disk`); its config holds the
        decoding settings (`DECODING_SETTINGS`), its meta no `performance` (the first
        pipeline's scores are not the ensemble's).
    """
    if len(pipelines) < 2:
        raise ValueError(f"An ensemble needs at least two pipelines, got {len(pipelines)}")
    first = pipelines[0]
    signature, width = _check_members(pipelines, tok2vec, ner)
    config = _batch_independent(_ensemble_config(pipelines, tok2vec, ner, signature, width))
    # The decoding settings go into the config, which builds the component and which a
    # load-time override changes: config.cfg says what the ensemble decodes with.
    decoding = {knob: first.get_pipe(ner).cfg.get(knob, 0.0) for knob in DECODING_SETTINGS}
    if entity_bias is not None:
        decoding["entity_bias"] = float(entity_bias)
    config["components"][ner].update(decoding)
    nlp = load_model_from_config(config, auto_fill=False, validate=True)
    nlp.vocab.from_bytes(first.vocab.to_bytes())
    nlp.tokenizer.from_bytes(first.tokenizer.to_bytes())
    for name in first.component_names:
        if name != ner:
            nlp.get_pipe(name).from_bytes(first.get_pipe(name).to_bytes())
    features_node(nlp.get_pipe(tok2vec).model).attrs["shared_as"] = signature  # the members read them
    # The first member's dev scores ("performance") are not the ensemble's: left out until the
    # ensemble itself is evaluated.
    nlp.meta.update({key: value for key, value in first.meta.items()
                     if key not in ("components", "pipeline", "disabled", "performance")})
    ensemble = nlp.get_pipe(ner)
    learned = {k: v for k, v in copy.deepcopy(first.get_pipe(ner).cfg).items() if k not in (*DECODING_SETTINGS, CONFIGURED_DECODING)}
    ensemble.cfg.update(learned)  # labels, class weights; the decoding settings are the config's
    members = ensemble_members(ensemble.model)
    members[0].from_bytes(first.get_pipe(ner).model.to_bytes())
    for member, pipeline in zip(members[1:], pipelines[1:]):
        member.from_bytes(_standalone_tagger(pipeline, tok2vec, ner, signature, width).to_bytes())
    ensemble.model.set_dim("nO", len(ensemble.tags))
    average_member_crfs(ensemble.model)
    return nlp


def _check_members(pipelines: Sequence[Language], tok2vec: str, ner: str) -> "tuple[str, int]":
    """The members' shared feature signature and width, after checking they can be combined."""
    for i, pipeline in enumerate(pipelines):
        for name in (tok2vec, ner):
            if name not in pipeline.component_names:
                raise ValueError(f"Pipeline {i} has no component {name!r} (it has {', '.join(pipeline.component_names)})")
    first_ner = pipelines[0].get_pipe(ner)
    nodes = [features_node(pipeline.get_pipe(tok2vec).model) for pipeline in pipelines]
    signature = feature_signature(nodes[0])
    for i, (pipeline, node) in enumerate(zip(pipelines, nodes)):
        member = pipeline.get_pipe(ner)
        settings = (member.labels, member.tag_scheme, member.use_crf)
        if settings != (first_ner.labels, first_ner.tag_scheme, first_ner.use_crf):
            raise ValueError(f"Pipeline {i}'s {ner} has other labels, tag scheme or CRF setting than "
                             f"pipeline 0's: {settings}")
        if feature_signature(node) != signature:
            raise ValueError(f"Pipeline {i} has another encoder (or layers, windows, combination) than pipeline 0")
    return signature, int(nodes[0].get_dim("nO"))


def _ensemble_config(pipelines: Sequence[Language], tok2vec: str, ner: str, signature: str, width: int) -> Config:
    """The first pipeline's config with `ner`'s model an ensemble of every pipeline's tagger."""
    config = pipelines[0].config.copy()
    members: Dict[str, Dict[str, Any]] = {"member0": copy.deepcopy(config["components"][ner]["model"])}
    for i, pipeline in enumerate(pipelines[1:], start=1):
        member_config = pipeline.config.interpolate()
        tagger = copy.deepcopy(member_config["components"][ner]["model"])
        tagger["tok2vec"] = copy.deepcopy(member_config["components"][tok2vec]["model"])
        shared = {"@architectures": SHARED_FEATURES, "shared_as": signature, "width": width}
        tagger["tok2vec"] = _with_shared_features(tagger["tok2vec"], shared)
        members[f"member{i}"] = tagger
    config["components"][ner]["model"] = {"@architectures": "fgen.ner_ensemble.v1", "nO": None, "*": members}
    return config


def _with_shared_features(block: Any, shared: Dict[str, Any]) -> Any:
    """A model config block with each `fgen.encoder_features.v1` block in it replaced by `shared`."""
    if not isinstance(block, dict):
        return block
    if block.get("@architectures") == "fgen.encoder_features.v1":
        return dict(shared)
    return {key: _with_shared_features(value, shared) for key, value in block.items()}


def _standalone_tagger(pipeline: Language, tok2vec: str, ner: str, signature: str, width: int) -> Model:
    """A pipeline's tagger with its own tok2vec in place of its listener, and shared features in
    place of its encoder: the shape of an ensemble member (so its weights load into one)."""
    tagger = pipeline.get_pipe(ner).model
    own_tok2vec = pipeline.get_pipe(tok2vec).model
    own_tok2vec.replace_node(features_node(own_tok2vec), build_shared_encoder_features(signature, width))
    tagger.replace_node(tagger.get_ref("tok2vec"), own_tok2vec)
    return tagger


def _batch_independent(block: Any) -> Any:
    """`block` (a config or a part of it), with each architecture of `BATCH_INDEPENDENT` replaced
    by its batch-independent equivalent in place (a config keeps its `${...}` references)."""
    if isinstance(block, dict):
        if block.get("@architectures") in BATCH_INDEPENDENT:
            block["@architectures"] = BATCH_INDEPENDENT[block["@architectures"]]
        for value in block.values():
            _batch_independent(value)
    return block
