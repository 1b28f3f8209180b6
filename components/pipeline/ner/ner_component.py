"""`fgen_ner`: entity recognition as sequence tagging with a constrained CRF (or softmax).

predict -> per-token emission scores -> decoding (constrained Viterbi) -> `doc.ents` and
`doc.spans["fgen"]`, with each entity's confidence in `span._.confidence`.

Confidence of an entity = the smallest, over its tokens, of the model's probability for the
decoded tag at that token: the CRF's forward-backward marginal p(y_t = tag_t | doc) with
`use_crf`, the softmax probability without. It is an upper bound on the probability of the
whole span and drops as soon as one boundary token is doubtful.

balance_classes (b in [0, 1]) weights each token by the class of its gold tag ("O" or the
entity label): w_c = freq_c ** -b, normalised so the average weight over training tokens is 1.
With softmax the weights scale each token's cross-entropy. With the CRF they scale each
token's emission gradient (the transition scores get the unweighted gradient, and the loss
reported is the unweighted NLL): a rare class pushes its emission scores up harder without
distorting the sequence model. The weights are computed at initialize and saved in `cfg`.

Three decoding knobs change what is found after training, all saved in `cfg`: `threshold`
drops decoded entities with a confidence below it (fewer entities); `entity_bias` adds a
constant to the score of every entity the decoder may choose, at its first tag (B- or U-), so
each entity's odds are multiplied by exp(entity_bias) whatever its length: > 0 finds more
entities, < 0 fewer; `length_bias` adds a constant at every later token of an entity (I-, L-),
so an entity of n tokens has its odds multiplied by exp(length_bias * (n - 1)): > 0 longer
entities, < 0 shorter. Confidences are computed under the same biases.

Missing gold tags (no annotation, misaligned tokens, labels the component does not know) are
masked: softmax ignores those tokens; the CRF maximises the likelihood of all sequences that
agree with the known tags (missing tokens are marginalised out), and a doc without any known
tag contributes nothing. A doc whose known tags no valid tag sequence agrees with (e.g. B-A, ?,
L-B under BILUO: no tag closes A and opens B) is skipped the same way, with a warning that
says how many docs were skipped.
"""
import warnings
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import (
    Example,
    biluo_tags_to_spans,
    biluo_to_iob,
    iob_to_biluo,
    validate_examples,
    validate_get_examples,
)
from spacy.util import minibatch
from spacy.vocab import Vocab
from thinc.api import Model, set_dropout_rate, torch2xp, xp2torch
from thinc.types import Floats2d

from fgen.pipeline.ner.gold_tags import aligned_biluo_tags
from fgen.pipeline.ner.crf import SCHEME_PREFIXES, make_tags, small_op_threads, split_tag
from fgen.doc_layout import SPAN_KEY
from fgen.pipeline.layers.model_defaults import default_model_config
from fgen.pipeline.ner.ner_model import get_torch_module
from fgen.pipeline.ner.ner_scorer import ner_score
from fgen.util.forking import make_forked_children_safe

# The settings that change what is decoded, not what was learned, and the cfg key holding the
# values the config gave them (see `FgenNER.from_disk`).
DECODING_SETTINGS = ("threshold", "entity_bias", "length_bias")
CONFIGURED_DECODING = "configured_decoding"
DEFAULT_NER_MODEL = default_model_config("fgen.ner_tagger.v1", hidden_width=0, dropout=0.1, nO=None)
# One decoded doc: tag index per token and the probability of that tag per token.
Decoded = Tuple[List[int], List[float]]


@Language.factory(
    "fgen_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_NER_MODEL,
        "use_crf": True,
        "tag_scheme": "BILUO",
        "balance_classes": 0.0,
        "threshold": 0.0,
        "entity_bias": 0.0,
        "length_bias": 0.0,
        "scorer": {"@scorers": "fgen.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats2d]],
    use_crf: bool = True,
    tag_scheme: str = "BILUO",
    balance_classes: float = 0.0,
    threshold: float = 0.0,
    entity_bias: float = 0.0,
    length_bias: float = 0.0,
    scorer: Optional[Callable] = None,
) -> "FgenNER":
    """Create an FgenNER component (see FgenNER for the arguments)."""
    make_forked_children_safe()  # nlp.pipe(n_process=N) forks after torch may have run
    return FgenNER(
        nlp.vocab, model, name, use_crf=use_crf, tag_scheme=tag_scheme, balance_classes=balance_classes,
        threshold=threshold, entity_bias=entity_bias, length_bias=length_bias, scorer=scorer,
    )


class FgenNER(TrainablePipe):
    """Tag tokens with BILUO/BIO entity tags and write the entities to the Doc."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], List[Floats2d]],
        name: str = "fgen_ner",
        *,
        use_crf: bool = True,
        tag_scheme: str = "BILUO",
        balance_classes: float = 0.0,
        threshold: float = 0.0,
        entity_bias: float = 0.0,
        length_bias: float = 0.0,
        scorer: Optional[Callable] = ner_score,
    ) -> None:
        """
        vocab (Vocab): the shared vocabulary.
        model (Model[List[Doc], List[Floats2d]]): emission scores per token (fgen.ner_tagger.v1).
        name (str): the component name.
        use_crf (bool): train and decode with the CRF; False: softmax per token, decoded as the
            most probable valid tag sequence.
        tag_scheme (str): "BILUO" or "BIO".
        balance_classes (float): 0 = no class weights, 1 = full inverse-frequency weights.
        threshold (float): an entity whose confidence is below it is left out (0: keep every
            decoded entity); tune it on dev with `spacy find-threshold MODEL DEV fgen_ner threshold ents_f`.
        entity_bias (float): added to each entity's score when decoding (> 0: more entities,
            higher recall; < 0: fewer; 0: the model as trained).
        length_bias (float): added at each token of an entity after its first when decoding
            (> 0: longer entities; < 0: shorter; 0: the model as trained).
        scorer (Optional[Callable]): the scoring method.
        """
        if tag_scheme not in SCHEME_PREFIXES:
            raise ValueError(f"tag_scheme must be one of {', '.join(SCHEME_PREFIXES)}, not {tag_scheme!r}")
        if not 0.0 <= balance_classes <= 1.0:
            raise ValueError(f"balance_classes must lie in [0, 1], not {balance_classes}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], not {threshold}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.use_crf = use_crf
        self.tag_scheme = tag_scheme
        self.balance_classes = balance_classes
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": [], "class_weights": {}, "threshold": threshold, "entity_bias": entity_bias,
                                    "length_bias": length_bias}
        self.cfg[CONFIGURED_DECODING] = {knob: self.cfg[knob] for knob in DECODING_SETTINGS}

    # Decoding settings: the saved cfg keeps what was set on the component (tuned after
    # training), unless the config now says otherwise than when it was saved (a load-time
    # `spacy.load(path, config=...)` override, or an edited config.cfg): then the config wins.
    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "FgenNER":
        configured = dict(self.cfg[CONFIGURED_DECODING])
        super().from_bytes(bytes_data, exclude=exclude)
        self._apply_configured(configured)
        return self

    def from_disk(self, path: Any, *, exclude: Iterable[str] = tuple()) -> "FgenNER":
        configured = dict(self.cfg[CONFIGURED_DECODING])
        super().from_disk(path, exclude=exclude)
        self._apply_configured(configured)
        return self

    def _apply_configured(self, configured: Dict[str, float]) -> None:
        saved = self.cfg.get(CONFIGURED_DECODING)
        if isinstance(saved, dict):  # pipelines saved before it was recorded: their cfg stands
            self.cfg.update({knob: value for knob, value in configured.items() if saved.get(knob) != value})
        self.cfg[CONFIGURED_DECODING] = configured

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def tags(self) -> List[str]:
        return make_tags(self.labels, self.tag_scheme)

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        """Add an entity label before initialize. RETURNS (int): 0 if present, else 1."""
        if label in self.labels:
            return 0
        if self.model.has_dim("nO") is True:
            raise ValueError(f"{self.name}: cannot add label {label!r} to an initialized model")
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Set the labels, the class weights and the model sizes from the training data.

        get_examples (Callable[[], Iterable[Example]]): returns the training examples.
        nlp (Language): the pipeline.
        labels (Optional[Sequence[str]]): the entity labels; default: those in the examples
            (see also `labels_from_definitions`).
        """
        validate_get_examples(get_examples, "FgenNER.initialize")
        if labels is None:
            labels = sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents})
        if not labels:
            raise ValueError(f"{self.name}: no entity labels in the examples and none given")
        self.cfg["labels"] = list(dict.fromkeys(labels))  # also on re-initialize, so no add_label
        for label in self.labels:
            self.vocab.strings.add(label)
        self.model.set_dim("nO", len(self.tags))
        sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=sample)
        get_torch_module(self.model).crf.set_constraints(self.tags, self.tag_scheme)
        # After the constraints: the weights count only tags of docs that can be learned from.
        self.cfg["class_weights"] = self._class_weights(get_examples())

    def _gold_tags(self, example: Example) -> List[Optional[str]]:
        """Gold tags aligned to the predicted tokens; None where unknown (missing, misaligned,
        unknown label). `_gold_indices` checks that the known tags fit a valid sequence."""
        raw = aligned_biluo_tags(example)
        if self.tag_scheme == "BIO":
            raw = biluo_to_iob(raw)
        known = set(self.tags)
        return [t if t in known else None for t in raw]

    def _padded_gold(self, examples: Sequence[Example]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Gold tag indices (B, T) long, -1 where unknown or padding, and the (B, T) bool mask of
        the real tokens, on the torch module's device."""
        index = {t: i for i, t in enumerate(self.tags)}
        rows = [[-1 if tag is None else index[tag] for tag in self._gold_tags(eg)] for eg in examples]
        width = max((len(row) for row in rows), default=0)
        device = get_torch_module(self.model).device
        gold = torch.tensor([row + [-1] * (width - len(row)) for row in rows], dtype=torch.long, device=device)
        lengths = torch.tensor([len(row) for row in rows], device=device)
        mask = torch.arange(width, device=device).unsqueeze(0) < lengths.unsqueeze(1)
        return gold.reshape(len(rows), width), mask

    def _gold_indices(self, examples: Sequence[Example]) -> Tuple[torch.Tensor, int]:
        """Padded gold tag indices, with every tag of a doc set to unknown (-1) when no valid
        sequence agrees with its known tags: such a doc would get a huge NLL and a gradient
        toward an invalid path.

        examples (Sequence[Example]): the examples, aligned to their predicted tokens.
        RETURNS (Tuple[torch.Tensor, int]): gold (B, T) long, -1 where unknown or padding, and
            the number of docs skipped.
        """
        gold, mask = self._padded_gold(examples)
        with small_op_threads(gold.device):
            reachable = get_torch_module(self.model).crf.gold_reachable(mask, gold)
        gold = torch.where(reachable.unsqueeze(1), gold, torch.full_like(gold, -1))
        return gold, int((~reachable).sum())

    def _warn_skipped(self, n_skipped: int, n_docs: int) -> None:
        """One warning for the docs `_gold_indices` skipped, if any."""
        if n_skipped:
            warnings.warn(
                f"[{self.name}] {n_skipped} of {n_docs} docs skipped: their known gold tags fit no valid "
                f"{self.tag_scheme} tag sequence (e.g. misaligned or partly annotated entities)"
            )

    def _class_weights(self, examples: Iterable[Example]) -> Dict[str, float]:
        """Weight per class ("O" or a label) from the gold tags of the learnable docs."""
        classes = ["O", *self.labels]
        counts = dict.fromkeys(classes, 0)
        n_docs = n_skipped = 0
        for batch in minibatch(examples, 256):  # bounded memory on a large corpus
            gold, skipped = self._gold_indices(batch)
            n_docs, n_skipped = n_docs + len(batch), n_skipped + skipped
            for k, n in zip(*torch.unique(gold[gold >= 0], return_counts=True)):
                counts[split_tag(self.tags[int(k)])[1] or "O"] += int(n)
        self._warn_skipped(n_skipped, n_docs)
        total = sum(counts.values()) or 1
        freq = {c: max(n, 1) / total for c, n in counts.items()}  # unseen class: as if seen once
        raw = {c: f ** -self.balance_classes for c, f in freq.items()}
        norm = sum(freq[c] * raw[c] for c in classes)  # average weight per token = 1
        return {c: raw[c] / norm for c in classes}

    def _tag_weights(self) -> List[float]:
        weights = self.cfg.get("class_weights") or {}
        return [float(weights.get(split_tag(t)[1] or "O", 1.0)) for t in self.tags]

    def _padded(self, scores: List[Floats2d]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Ragged emissions -> (B, T, K) tensor and (B, T) mask on the torch module's device."""
        device = get_torch_module(self.model).device
        emissions = xp2torch(self.model.ops.pad(scores), device=device)
        lengths = torch.tensor([len(s) for s in scores], device=device)
        mask = torch.arange(emissions.shape[1], device=device).unsqueeze(0) < lengths.unsqueeze(1)
        return emissions, mask

    def predict(self, docs: Iterable[Doc]) -> List[Decoded]:
        """Decode the docs. RETURNS (List[Tuple[List[int], List[float]]]): per doc, the tag
        index and the probability of that tag for each token."""
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [([], []) for _ in docs]
        return self.decode(self.model.predict(docs))

    def decode(self, scores: List[Floats2d]) -> List[Decoded]:
        """Decode emission scores (one (n_tokens, n_tags) array per doc, from the model) with
        the current `entity_bias` and `length_bias`.
        RETURNS (List[Tuple[List[int], List[float]]]): as `predict`."""
        crf = get_torch_module(self.model).crf
        emissions, mask = self._padded(scores)
        emissions = emissions + self._decoding_offsets(emissions)
        with torch.no_grad(), small_op_threads(emissions.device):
            if self.use_crf:
                probs = crf.marginals(emissions, mask)
                paths = crf.viterbi(emissions, mask)
            else:
                # Most probable valid sequence under independent per-token probabilities.
                logp = torch.log_softmax(emissions, dim=-1)
                probs = logp.exp()
                paths = crf.viterbi(logp, mask, learned=False)
        probs = probs.cpu().numpy()
        return [(path, [float(probs[b, t, k]) for t, k in enumerate(path)]) for b, path in enumerate(paths)]

    def _decoding_offsets(self, emissions: torch.Tensor) -> torch.Tensor:
        """(n_tags,) added to the emissions when decoding: `entity_bias` on the tags that
        begin an entity (B-, U-), `length_bias` on those that go on with one (I-, L-), 0 on O."""
        entity, length = float(self.cfg.get("entity_bias", 0.0)), float(self.cfg.get("length_bias", 0.0))
        by_prefix = {"B": entity, "U": entity, "I": length, "L": length}
        offsets = [by_prefix.get(split_tag(tag)[0], 0.0) for tag in self.tags]
        return torch.tensor(offsets, dtype=emissions.dtype, device=emissions.device)

    def set_annotations(self, docs: Iterable[Doc], decoded: List[Decoded]) -> None:
        """Write `doc.ents`, `doc.spans["fgen"]` and `span._.confidence` (entities with a
        confidence below the threshold are left out)."""
        tags = self.tags
        threshold = float(self.cfg.get("threshold", 0.0))
        for doc, (path, probs) in zip(docs, decoded):
            doc_tags = [tags[k] for k in path]
            if self.tag_scheme == "BIO":
                doc_tags = iob_to_biluo(doc_tags)
            scored = [(ent, min(probs[ent.start : ent.end])) for ent in biluo_tags_to_spans(doc, doc_tags)]
            kept = [(ent, confidence) for ent, confidence in scored if confidence >= threshold]
            doc.ents = [ent for ent, _ in kept]
            for key in [k for k in doc.user_data if isinstance(k, tuple) and k[:2] == ("._.", "confidence")]:
                del doc.user_data[key]  # stale confidences of earlier predictions
            for ent, confidence in kept:
                ent._.confidence = confidence
            doc.spans[SPAN_KEY] = list(doc.ents)

    def get_loss(self, examples: Iterable[Example], scores: List[Floats2d]) -> Tuple[float, List[Floats2d]]:
        """CRF negative log-likelihood (or weighted cross-entropy) and its gradient w.r.t. the
        emission scores. With the CRF, gradients for the transition scores accumulate on the
        torch parameters and are applied by `finish_update`."""
        examples = list(examples)
        lengths = [len(s) for s in scores]
        if not sum(lengths):
            return 0.0, [self.model.ops.alloc2f(0, len(self.tags)) for _ in scores]
        emissions, mask = self._padded(scores)
        gold, n_skipped = self._gold_indices(examples)
        self._warn_skipped(n_skipped, len(examples))
        class_w = torch.tensor(self._tag_weights(), device=emissions.device)[gold.clamp(min=0)]
        emissions.requires_grad_(True)
        with small_op_threads(emissions.device):
            loss = self._loss(emissions, mask, gold, class_w)
            loss.backward()
        d_padded = torch2xp(emissions.grad, ops=self.model.ops)
        d_scores = self.model.ops.unpad(d_padded, lengths)
        return float(loss.item()), d_scores

    def _loss(
        self, emissions: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor, class_w: torch.Tensor
    ) -> torch.Tensor:
        """Summed loss over the batch; gold is -1 where unknown, class_w the weight per token."""
        known = gold >= 0
        if self.use_crf:
            # Unknown tokens keep weight 1: their gradient is part of the exact partial-label
            # NLL gradient. `weighted` has the value of `emissions`, but d(loss)/d(emission at t)
            # is scaled by the token's class weight.
            w = torch.where(known, class_w, torch.ones_like(class_w)).unsqueeze(-1)
            weighted = emissions * w + (emissions * (1 - w)).detach()
            loss = get_torch_module(self.model).crf.nll(weighted, mask, gold).sum()
        else:
            ce = torch.nn.functional.cross_entropy(emissions.transpose(1, 2), gold.clamp(min=0), reduction="none")
            loss = (ce * class_w * known).sum()  # unknown tokens are masked out
        return loss

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Any] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples. RETURNS (Dict[str, float]): the updated losses."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "FgenNER.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses  # no tokens, nothing to learn
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses
