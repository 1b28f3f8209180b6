"""The model behind `fgen_links`: a score for each candidate statement and each of its role pairs.

tok2vec -> token vectors -> each entity's tokens pooled (mean, max) -> a PyTorch scorer:
entity vectors are projected (narrow, with dropout) and tagged with their role; every role pair (i, j) of a candidate
gets a hidden vector from [h_i, h_j, h_i * h_j, pair features] and a pair logit; the candidate
gets a tuple logit from all role vectors, the max-pooled pair vectors, the pair logits and the
tuple features. Output per candidate: [tuple logit, pair logits in `role_pairs` order].
"""
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import spacy
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, concatenate, reduce_max, reduce_mean, torch2xp, xp2torch
from thinc.types import Floats2d, Ints2d, Ragged
from torch import nn

from fgen.pipeline.links.link_candidates import N_PAIR_FEATURES, role_pairs
from fgen.pipeline.layers.span_pooling import span_vectors
from fgen.pipeline.layers.torch_io import state_from_bytes, state_to_bytes


class LinkBatch(NamedTuple):
    """What the link model reads besides the docs."""

    spans: Ragged  # (start, end) token offsets of the entities; lengths = entities per doc
    tuples: Ints2d  # (n_candidates, n_roles): rows of `spans` (batch-wide), in role order
    features: Floats2d  # (n_candidates, n_tuple_features(n_roles))


class TupleScorer(nn.Module):
    """Pair and tuple scorer over pooled entity vectors; sizes are set by `resize`.

    The entity vectors go through a narrow projection (`entity_width`) with its own dropout:
    with ~100 link-annotated abstracts a wide one memorises the entities' words instead of
    learning how statements are laid out; `entity_width = 0` uses the layout features only
    (both measured in docs/benchmarks.md).
    """

    def __init__(
        self, n_roles: int = 4, hidden_width: int = 64, entity_width: int = 16, dropout: float = 0.1,
        entity_dropout: float = 0.1,
    ):
        super().__init__()
        self.n_roles = n_roles
        self.pairs = role_pairs(n_roles)
        self.hidden_width = hidden_width
        self.entity_width = entity_width
        self.dropout = nn.Dropout(dropout)
        self.entity_dropout = nn.Dropout(entity_dropout)
        # entity_width 0: layout features only (no zero-sized parameters)
        self.role = nn.Parameter(torch.zeros(n_roles, entity_width)) if entity_width else None
        self.entity: Optional[nn.Linear] = None
        self.pair_hidden = nn.Linear(3 * entity_width + N_PAIR_FEATURES, hidden_width)
        self.pair_out = nn.Linear(hidden_width, 1)
        self.tuple_hidden: Optional[nn.Linear] = None
        self.tuple_out = nn.Linear(hidden_width, 1)

    def resize(self, nE: int, nF: int) -> None:
        """Build the input layers for entity vectors of width nE and feature rows of width nF."""
        device = self.pair_out.weight.device
        n_pairs = len(self.pairs)
        self.entity = nn.Linear(nE, self.entity_width).to(device) if self.entity_width else None
        n_extra = nF - n_pairs * N_PAIR_FEATURES
        width = self.n_roles * self.entity_width + self.hidden_width + n_pairs + n_extra
        self.tuple_hidden = nn.Linear(width, self.hidden_width).to(device)

    def forward(self, E: torch.Tensor, idx: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """E (n_entities, nE), idx (n, n_roles), feats (n, nF) -> logits (n, 1 + n_pairs)."""
        if self.tuple_hidden is None:
            raise ValueError("The link scorer is not initialized: call nlp.initialize() first")
        n, n_pairs = idx.shape[0], len(self.pairs)
        pair_feats = feats[:, : n_pairs * N_PAIR_FEATURES].reshape(n, n_pairs, N_PAIR_FEATURES)
        if self.entity is not None:
            H = self.entity_dropout(torch.tanh(self.entity(E)))
            M = H[idx] + self.role  # (n, n_roles, entity_width)
            left = M[:, [i for i, _ in self.pairs]]
            right = M[:, [j for _, j in self.pairs]]
            pair_in = torch.cat([left, right, left * right, pair_feats], dim=-1)
        else:
            M, pair_in = feats.new_zeros((n, 0)), pair_feats
        P = torch.nn.functional.gelu(self.pair_hidden(pair_in))
        pair_logits = self.pair_out(self.dropout(P)).squeeze(-1)  # (n, n_pairs)
        tuple_in = torch.cat(
            [M.reshape(n, -1), P.max(dim=1).values, pair_logits, feats[:, n_pairs * N_PAIR_FEATURES :]], dim=-1
        )
        T = torch.nn.functional.gelu(self.tuple_hidden(self.dropout(tuple_in)))
        return torch.cat([self.tuple_out(self.dropout(T)), pair_logits], dim=-1)


def _deserialize(module: TupleScorer, data: bytes, device: torch.device) -> TupleScorer:
    # Input sizes are only known from the saved weights.
    state = state_from_bytes(data, device)
    if "tuple_hidden.weight" in state:
        nE = state["entity.weight"].shape[1] if "entity.weight" in state else 0
        fixed = module.n_roles * module.entity_width + module.hidden_width + len(module.pairs)
        module.resize(nE, len(module.pairs) * N_PAIR_FEATURES + state["tuple_hidden.weight"].shape[1] - fixed)
    module.load_state_dict(state)
    return module.to(device)


def _convert_inputs(model: Model, X: Tuple[Floats2d, Ints2d, Floats2d], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    E, idx, feats = X
    device = model.shims[0].device
    Et = xp2torch(E, requires_grad=is_train, device=device)
    idx_t = xp2torch(model.ops.asarray(idx, dtype="int64"), device=device)
    feats_t = xp2torch(feats, device=device)

    def backprop(dX: ArgsKwargs) -> Floats2d:
        if dX.args[0] is None:  # entity_width 0: the scores do not depend on the entity vectors
            return model.ops.alloc2f(*E.shape)
        return torch2xp(dX.args[0], ops=model.ops)

    return ArgsKwargs(args=(Et, idx_t, feats_t), kwargs={}), backprop


@spacy.registry.architectures("fgen.link_model.v1")
def build_link_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 64,
    entity_width: int = 16,
    dropout: float = 0.1,
    entity_dropout: float = 0.1,
    n_roles: int = 4,
) -> Model[Tuple[List[Doc], LinkBatch], Floats2d]:
    """Build the statement scorer.

    tok2vec (Model[List[Doc], List[Floats2d]]): token vectors, own or a listener to a shared one.
    hidden_width (int): width of the pair and tuple hidden layers.
    entity_width (int): width of the projected entity vectors (0: layout features only).
    dropout (float): dropout rate of the hidden layers.
    entity_dropout (float): dropout rate of the projected entity vectors.
    n_roles (int): roles per statement (4 in V2).
    RETURNS (Model[Tuple[List[Doc], LinkBatch], Floats2d]): one row per candidate:
        [tuple logit, pair logits in `role_pairs(n_roles)` order].
    """
    entities = span_vectors(tok2vec, concatenate(reduce_mean(), reduce_max()))
    scorer = PyTorchWrapper_v3(
        TupleScorer(n_roles=n_roles, hidden_width=hidden_width, entity_width=entity_width, dropout=dropout,
                    entity_dropout=entity_dropout),
        convert_inputs=_convert_inputs,
        serialize_model=state_to_bytes,
        deserialize_model=_deserialize,
    )
    return Model(
        "fgen_link_model",
        _forward,
        init=_init,
        layers=[entities, scorer],
        refs={"tok2vec": tok2vec, "entities": entities, "scorer": scorer},
        attrs={"n_roles": n_roles},
    )


def get_torch_module(model: Model) -> TupleScorer:
    """The PyTorch scorer of a model built by build_link_model."""
    return model.get_ref("scorer").shims[0]._model


def _forward(model: Model, X: Tuple[List[Doc], LinkBatch], is_train: bool) -> Tuple[Floats2d, Callable]:
    docs, batch = X
    n_out = 1 + len(role_pairs(model.attrs["n_roles"]))
    if batch.tuples.shape[0] == 0:
        return model.ops.alloc2f(0, n_out), lambda dY: []
    E, bp_entities = model.get_ref("entities")((docs, batch.spans), is_train)
    Y, bp_scorer = model.get_ref("scorer")((E, batch.tuples, batch.features), is_train)

    def backprop(dY: Floats2d) -> Any:
        return bp_entities(bp_scorer(dY))

    return Y, backprop


def _init(model: Model, X: Optional[Tuple[List[Doc], LinkBatch]] = None, Y: Any = None) -> Model:
    if X is None or X[1].tuples.shape[0] == 0:
        raise ValueError("fgen.link_model.v1 needs sample docs with at least one candidate to initialize")
    docs, batch = X
    entities = model.get_ref("entities")
    entities.initialize(X=(docs, batch.spans))
    E = entities.predict((docs, batch.spans))
    get_torch_module(model).resize(E.shape[1], batch.features.shape[1])
    return model
