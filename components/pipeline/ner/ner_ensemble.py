"""`fgen.ner_ensemble.v1`: several NER taggers whose emission scores are averaged, and one CRF.

Taggers trained apart (e.g. from different seeds) make errors they do not share; averaging their
emission scores and decoding them with the average of their CRFs' transition scores keeps what
they agree on (a product of the members' distributions). `fgen_ner` uses the ensemble like one
`fgen.ner_tagger.v1`: the model maps docs to emission scores, and `get_torch_module(model).crf`
is the ensemble's CRF. Build one from trained pipelines with `fgen.pipeline.ner.ensemble_assembly`
(scripts/assemble_ensemble.py); trained directly, the members learn together from the loss of
their average (a wider model, not an ensemble).

Members that sit on the same frozen encoder read its features through
`fgen.shared_encoder_features.v1`, so the encoder runs once per doc whatever their number; the
ensemble drops those features from the docs once its members have read them.
"""
from typing import Any, Callable, List, Optional, Tuple

import spacy
import torch
from spacy.tokens import Doc
from thinc.api import Model, PyTorchWrapper_v3
from thinc.types import Floats2d
from torch import nn

from fgen.pipeline.layers.shared_features import forget_shared_features, reader_names
from fgen.pipeline.layers.torch_io import state_from_bytes, state_to_bytes
from fgen.pipeline.ner.crf import CRF
from fgen.pipeline.ner.ner_model import get_torch_module


class EnsembleCRF(nn.Module):
    """The ensemble's CRF, in the shape `fgen_ner` expects of its model's torch module (`.crf`,
    `.device`); emissions come from the members, not from this module."""

    def __init__(self):
        super().__init__()
        self.crf = CRF(0)

    @property
    def device(self) -> torch.device:
        return self.crf.start.device

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X


def _deserialize(module: EnsembleCRF, data: bytes, device: torch.device) -> EnsembleCRF:
    state = state_from_bytes(data, device)
    if "crf.start" in state:
        module.crf.resize(state["crf.start"].shape[0])
    module.load_state_dict(state)
    return module.to(device)


@spacy.registry.architectures("fgen.ner_ensemble.v1")
def build_ner_ensemble(
    *members: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None
) -> Model[List[Doc], List[Floats2d]]:
    """The mean emission scores of several `fgen.ner_tagger.v1` members, with one CRF.

    members (Model[List[Doc], List[Floats2d]]): the taggers (config: `[model.*.name]` blocks);
        each brings its own tok2vec (a listener, or its own layers on shared encoder features).
    nO (Optional[int]): number of tags; set by the component from its labels at initialize.
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, n_tags) array per doc.
    """
    if not members:
        raise ValueError("fgen.ner_ensemble.v1 needs at least one member")
    crf = PyTorchWrapper_v3(EnsembleCRF(), serialize_model=state_to_bytes, deserialize_model=_deserialize)
    return Model(
        "fgen_ner_ensemble",
        _forward,
        init=_init,
        layers=[*members, crf],
        refs={"emission": crf},  # where get_torch_module finds the CRF
        dims={"nO": nO},
    )


def ensemble_members(model: Model) -> List[Model]:
    """The member taggers of an `fgen.ner_ensemble.v1` model."""
    return model.layers[:-1]


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    members = ensemble_members(model)
    outputs, backprops = zip(*(member(docs, is_train) for member in members))
    # Every member has read the shared features: they need not stay on the docs.
    forget_shared_features(docs, reader_names(model))
    mean = [sum(doc_scores[1:], doc_scores[0].copy()) / len(members) for doc_scores in zip(*outputs)]

    def backprop(d_mean: List[Floats2d]) -> List[Doc]:
        d_member = [d / len(members) for d in d_mean]
        for member_backprop in backprops:
            member_backprop(d_member)
        return []

    return mean, backprop


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Any = None) -> Model:
    if model.has_dim("nO") is not True:
        raise ValueError("fgen.ner_ensemble.v1 needs nO (the number of tags) before initialize")
    nO = model.get_dim("nO")
    for member in ensemble_members(model):
        if member.has_dim("nO") is not True:
            member.set_dim("nO", nO)
        member.initialize(X=X)
    get_torch_module(model).crf.resize(nO)
    return model


def average_member_crfs(model: Model) -> None:
    """Set the ensemble's CRF to the mean of its members' CRF scores (transitions, start, end),
    the decoding the averaged emissions were measured with (docs/benchmarks.md, round 10), and
    to the first member's constraints (the members share their tags)."""
    states = [get_torch_module(member).crf.state_dict() for member in ensemble_members(model)]
    learned = ("transitions", "start", "end")
    averaged = {name: torch.stack([state[name] for state in states]).mean(0) if name in learned else value
                for name, value in states[0].items()}
    crf = get_torch_module(model).crf
    crf.resize(averaged["start"].shape[0])
    crf.load_state_dict(averaged)
