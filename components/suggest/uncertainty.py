"""How unsure a trained pipeline is of each abstract: the three signals `fgen-suggest` ranks by.

A batch of docs runs through the pipeline component by component (`annotate_with_uncertainty`),
as `nlp.pipe` would, except that `fgen_ner` and `fgen_links` are run as predict + set_annotations
so that what they decide from is kept:

- `disagreement`: for an `fgen.ner_ensemble.v1` tagger, each member's per-token tag distribution
  (the marginals of its own CRF, or its softmax) and their mean Q; per token the generalised
  Jensen-Shannon divergence H(Q) - mean_m H(P_m) (the mean KL of each member from the consensus:
  query by committee), averaged over the doc's tokens. None for a single tagger.
- `marginal`: 1 - p(decoded tag), p the marginal of the ensemble's CRF (what `span._.confidence`
  is made of), averaged over the doc's tokens.
- `statements`: every candidate statement `fgen_links` scored, weighted by how close its
  probability is to the threshold (1 at the threshold, 0 at 0 or 1), summed, per token.

Per-token means keep a long abstract from outranking a short one only by its length: the
annotators' time follows the tokens too. The members are run one after another on the same
docs, so the shared encoder still runs once per doc (`fgen.pipeline.layers.shared_features`).
"""
from dataclasses import dataclass
from typing import Iterable, List, Optional

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import xp2torch

from fgen.pipeline.layers.shared_features import forget_shared_features, reader_names
from fgen.pipeline.links.link_component import FgenLinks
from fgen.pipeline.ner.crf import small_op_threads
from fgen.pipeline.ner.ner_component import FgenNER
from fgen.pipeline.ner.ner_ensemble import ensemble_members
from fgen.pipeline.ner.ner_model import get_torch_module

ENSEMBLE_NAME = "fgen_ner_ensemble"  # Model.name of fgen.ner_ensemble.v1


@dataclass
class Uncertainty:
    """The signals of one doc (see the module docstring); `disagreement` is None without an ensemble."""

    disagreement: Optional[float]
    marginal: float
    statements: float


def _padded(ner: FgenNER, scores: List[numpy.ndarray]) -> "tuple[torch.Tensor, torch.Tensor]":
    device = get_torch_module(ner.model).device
    emissions = xp2torch(ner.model.ops.pad(scores), device=device)
    lengths = torch.tensor([len(s) for s in scores], device=device)
    mask = torch.arange(emissions.shape[1], device=device).unsqueeze(0) < lengths.unsqueeze(1)
    return emissions, mask


def _distributions(ner: FgenNER, member, scores: List[numpy.ndarray]) -> torch.Tensor:
    """(B, T, K) tag distributions of one member, decoded with the component's biases."""
    emissions, mask = _padded(ner, scores)
    emissions = emissions + ner._decoding_offsets(emissions)  # what the pipeline decodes with
    with torch.no_grad(), small_op_threads(emissions.device):
        if ner.use_crf:
            return get_torch_module(member).crf.marginals(emissions, mask)
        return torch.softmax(emissions, dim=-1)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp(min=1e-12))).sum(-1)


def member_disagreement(distributions: List[torch.Tensor], lengths: List[int]) -> List[float]:
    """Per doc, the mean over its tokens of H(mean_m P_m) - mean_m H(P_m).

    distributions (List[torch.Tensor]): one (B, T, K) tensor per member (padding rows ignored).
    lengths (List[int]): the number of tokens of each doc.
    RETURNS (List[float]): one value per doc, 0 for a doc without tokens.
    """
    stacked = torch.stack(distributions)  # (M, B, T, K)
    per_token = _entropy(stacked.mean(0)) - _entropy(stacked).mean(0)  # (B, T)
    return [float(per_token[b, :n].clamp(min=0).mean()) if n else 0.0 for b, n in enumerate(lengths)]


def _ner_step(ner: FgenNER, docs: List[Doc]) -> "tuple[List[Optional[float]], List[float]]":
    lengths = [len(doc) for doc in docs]
    if not any(lengths):
        ner.set_annotations(docs, [([], []) for _ in docs])
        return [None] * len(docs), [0.0] * len(docs)
    model = ner.model
    disagreement: List[Optional[float]] = [None] * len(docs)
    if model.name == ENSEMBLE_NAME:
        members = ensemble_members(model)
        per_member = [member.predict(docs) for member in members]
        forget_shared_features(docs, reader_names(model))  # as the ensemble's own forward does
        scores = [sum(doc_scores[1:], doc_scores[0].copy()) / len(members) for doc_scores in zip(*per_member)]
        if len(members) > 1:
            disagreement = member_disagreement([_distributions(ner, m, s) for m, s in zip(members, per_member)], lengths)
    else:
        scores = model.predict(docs)
    decoded = ner.decode(scores)
    ner.set_annotations(docs, decoded)
    marginal = [float(numpy.mean([1.0 - p for p in probs])) if probs else 0.0 for _, probs in decoded]
    return disagreement, marginal


def near_threshold(probs: numpy.ndarray, threshold: float) -> numpy.ndarray:
    """1 at the threshold, falling linearly to 0 at 0 and at 1."""
    width = numpy.where(probs < threshold, threshold, 1.0 - threshold)
    return 1.0 - numpy.abs(probs - threshold) / numpy.maximum(width, 1e-12)


def _links_step(links: FgenLinks, docs: List[Doc]) -> List[float]:
    scores = links.predict(docs)
    links.set_annotations(docs, scores)
    threshold = float(links.cfg["threshold"])
    return [float(near_threshold(s.tuple_probs, threshold).sum()) / max(len(doc), 1) for doc, s in zip(docs, scores)]


def annotate_with_uncertainty(nlp: Language, docs: Iterable[Doc]) -> List[Uncertainty]:
    """Run every component of `nlp` over `docs` (tokenized, annotated in place) and measure them.

    nlp (Language): a trained fgen pipeline.
    docs (Iterable[Doc]): one batch of docs, made by `nlp.make_doc` (or bounded tokenization).
    RETURNS (List[Uncertainty]): one per doc; `statements` is 0 without `fgen_links`.
    """
    docs = list(docs)
    disagreement: List[Optional[float]] = [None] * len(docs)
    marginal = [0.0] * len(docs)
    statements = [0.0] * len(docs)
    for _, proc in nlp.pipeline:
        if isinstance(proc, FgenNER):
            disagreement, marginal = _ner_step(proc, docs)
        elif isinstance(proc, FgenLinks):
            statements = _links_step(proc, docs)
        elif hasattr(proc, "pipe"):
            docs = list(proc.pipe(docs, batch_size=max(len(docs), 1)))
        else:
            docs = [proc(doc) for doc in docs]
    return [Uncertainty(d, m, s) for d, m, s in zip(disagreement, marginal, statements)]
