"""The NER tagger architecture: tok2vec -> a PyTorch emission head (+ CRF parameters).

The Thinc model maps docs to per-token emission scores (n_tokens x n_tags per doc). The
PyTorch module behind it holds the emission head *and* the CRF, so the CRF's transition
scores are saved with the model and updated by the same optimizer step: PyTorchShim's
`finish_update` updates every torch parameter that has a gradient, and the component's
CRF loss puts gradients on the transitions with autograd.
"""
from typing import Any, Callable, List, Optional, Tuple

import spacy
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d
from torch import nn

from fgen.pipeline.ner.crf import CRF
from fgen.pipeline.layers.torch_io import state_from_bytes, state_to_bytes


class EmissionCRF(nn.Module):
    """Emission head (dropout, optional ReLU hidden layer, linear output) plus a CRF.

    Sizes are set by `resize` once the input width and the tag count are known (at
    initialize, or from the saved weights when a pipeline is loaded).
    """

    def __init__(self, hidden_width: int = 0, dropout: float = 0.1):
        super().__init__()
        self.hidden_width = hidden_width
        self.dropout = nn.Dropout(dropout)
        self.hidden: Optional[nn.Linear] = None
        self.output: Optional[nn.Linear] = None
        self.crf = CRF(0)

    @property
    def device(self) -> torch.device:
        return self.crf.start.device

    def resize(self, nI: int, nO: int) -> None:
        """Build fresh layers for input width nI and nO tags (and an nO-tag CRF)."""
        width = self.hidden_width or nI
        self.hidden = nn.Linear(nI, width).to(self.device) if self.hidden_width else None
        self.output = nn.Linear(width, nO).to(self.device)
        self.crf.resize(nO)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X (B, T, nI) -> emission scores (B, T, nO)."""
        if self.output is None:
            raise ValueError("The NER emission head is not initialized: call nlp.initialize() first")
        X = self.dropout(X)
        if self.hidden is not None:
            X = self.dropout(torch.relu(self.hidden(X)))
        return self.output(X)


def _deserialize(module: EmissionCRF, data: bytes, device: torch.device) -> EmissionCRF:
    # The module is built with unknown sizes, so take them from the saved weights first.
    state = state_from_bytes(data, device)
    if "output.weight" in state:
        nO = state["output.weight"].shape[0]
        nI = (state["hidden.weight"] if "hidden.weight" in state else state["output.weight"]).shape[1]
        module.resize(nI, nO)
    module.load_state_dict(state)
    return module.to(device)


def _convert_inputs(model: Model, Xs: List[Floats2d], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    # Ragged per-doc arrays -> one zero-padded (B, T, nI) tensor on the module's device.
    lengths = [len(x) for x in Xs]
    device = model.shims[0].device
    Xt = xp2torch(model.ops.pad(Xs), requires_grad=is_train, device=device)

    def backprop(dX: ArgsKwargs) -> List[Floats2d]:
        return model.ops.unpad(torch2xp(dX.args[0], ops=model.ops), lengths)

    return ArgsKwargs(args=(Xt,), kwargs={}), backprop


def _convert_outputs(model: Model, inputs_outputs: Tuple[List[Floats2d], torch.Tensor], is_train: bool):
    Xs, Yt = inputs_outputs
    lengths = [len(x) for x in Xs]
    Ys = model.ops.unpad(torch2xp(Yt.detach(), ops=model.ops), lengths)

    def backprop(dYs: List[Floats2d]) -> ArgsKwargs:
        dYt = xp2torch(model.ops.pad(dYs), device=Yt.device)
        return ArgsKwargs(args=(Yt,), kwargs={"grad_tensors": (dYt,)})

    return Ys, backprop


@spacy.registry.architectures("fgen.ner_tagger.v1")
def build_ner_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 0,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Per-token emission scores for a CRF (or softmax) NER tagger.

    tok2vec (Model[List[Doc], List[Floats2d]]): the token encoder (CNN, transformer listener...).
    hidden_width (int): width of a ReLU hidden layer in the head; 0 for a linear head.
    dropout (float): dropout on the head's input (and hidden layer), applied in training.
    nO (Optional[int]): number of tags; set by the component from its labels at initialize.
    RETURNS (Model[List[Doc], List[Floats2d]]): one (n_tokens, n_tags) array per doc. The
        torch module with the CRF is `get_torch_module(model)`.
    """
    emission = PyTorchWrapper_v3(
        EmissionCRF(hidden_width=hidden_width, dropout=dropout),
        convert_inputs=_convert_inputs,
        convert_outputs=_convert_outputs,
        serialize_model=state_to_bytes,
        deserialize_model=_deserialize,
    )
    return Model(
        "fgen_ner_tagger",
        _forward,
        init=_init,
        layers=[tok2vec, emission],
        refs={"tok2vec": tok2vec, "emission": emission},
        dims={"nO": nO},
    )


def get_torch_module(model: Model) -> EmissionCRF:
    """The PyTorch module (emission head + `.crf`) of a model built by build_ner_tagger."""
    return model.get_ref("emission").shims[0]._model


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if not docs:
        return [], lambda dY: []
    Xs, bp_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    Ys, bp_emission = model.get_ref("emission")(Xs, is_train)
    return Ys, lambda dYs: bp_tok2vec(bp_emission(dYs))


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Any = None) -> Model:
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X)
    if tok2vec.has_dim("nO") is True:
        nI = tok2vec.get_dim("nO")
    else:  # e.g. a transformer listener: its width shows in its output
        widths = [y.shape[1] for y in tok2vec.predict([doc for doc in X or [] if len(doc)])]
        if not widths:
            raise ValueError("Cannot infer the tok2vec width of fgen.ner_tagger.v1: pass non-empty sample docs")
        nI = widths[0]
    if model.has_dim("nO") is not True:
        raise ValueError("fgen.ner_tagger.v1 needs nO (the number of tags) before initialize")
    nO = model.get_dim("nO")
    emission = model.get_ref("emission")
    emission.set_dim("nI", nI)
    emission.set_dim("nO", nO)
    get_torch_module(model).resize(nI, nO)
    return model
