"""`fgen_links`: predict whole statements (ENTITY_LINKING), one entity per role category.

Candidates (see `fgen.pipeline.links.link_candidates`): every combination of one entity per role
(PERTURBING_ACTION, CONTEXT, EFFECT, PHENOTYPE) within `max_sentences` consecutive sentences
(and `max_width` tokens when > 0). Beyond `max_candidates` per doc only the narrowest are
kept (the widest are dropped; `link_candidates.candidate_tuples` builds only those), and
members lie at most `max_apart` role entities apart, so a sentence with thousands of entities
costs linear time and memory.
`fgen.link_model.v1` scores each candidate (a tuple logit) and each of its 6 role pairs (pair
logits). Decoding keeps every candidate whose probability is >= `threshold`, so an entity can
take part in several statements and each statement has exactly one entity per role.

Output:
- `doc._.links`: the statements (dicts category -> Span), in document order;
  `doc._.link_scores`: the probability of each;
- `doc._.link_pairs`: (Span, Span, probability) for every entity pair of a role pair that
  occurs in some candidate: the model's belief that the two share a statement.

Training: only examples whose reference is link-annotated (`fgen.doc_layout.links_annotated`,
the same test the links scorer uses) give supervision; the others are skipped, never used
as negatives. `train_on = "gold"` builds candidates from the reference entities (aligned to the
predicted tokens); `"gold+predicted"` adds the entities already on the predicted doc (put the
NER in `[training] annotating_components`), so the model also sees the spurious and
misplaced entities it will meet end to end. A candidate is positive when its members are exactly
a gold statement; a pair when the two entities share a gold statement. Loss: binary
cross-entropy of the tuple logits + `pair_loss_weight` x that of the pair logits.
"""
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate, to_numpy
from thinc.types import Floats2d, Ragged

from fgen.doc_layout import SPAN_KEY, entity_spans, get_links, links_annotated, set_link_pairs, set_links
from fgen.pipeline.links.link_candidates import (
    MAX_APART,
    ROLES,
    Candidate,
    candidate_tuples,
    n_tuple_features,
    role_pairs,
    tuple_features,
)
from fgen.pipeline.links.link_model import LinkBatch
from fgen.pipeline.links.link_scorer import score_links
from fgen.util.forking import make_forked_children_safe
from fgen.util.sentences import sentence_ids
from fgen.pipeline.layers.listener_updates import backprop_nothing
from fgen.pipeline.layers.model_defaults import default_model_config

DEFAULT_LINK_MODEL = default_model_config(
    "fgen.link_model.v1", hidden_width=64, entity_width=16, dropout=0.1, entity_dropout=0.1, n_roles=4
)
TRAIN_ON = ("gold", "gold+predicted")

SpanKey = Tuple[int, int, str]


class DocCandidates(NamedTuple):
    """The entities of one doc and its candidate statements (entity indices in role order)."""

    entities: List[Span]
    candidates: List[Candidate]
    features: List[List[float]]


class DocScores(NamedTuple):
    """`predict` output for one doc: its candidates and their tuple and pair probabilities."""

    candidates: DocCandidates
    tuple_probs: numpy.ndarray  # (n_candidates,)
    pair_probs: numpy.ndarray  # (n_candidates, n_pairs)


def _key(span: Span) -> SpanKey:
    return (span.start, span.end, span.label_)


def _sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return 1.0 / (1.0 + numpy.exp(-x))


@Language.factory(
    "fgen_links",
    assigns=["doc._.links", "doc._.link_scores", "doc._.link_pairs"],
    requires=["doc.ents"],
    default_config={
        "model": DEFAULT_LINK_MODEL,
        "spans_key": SPAN_KEY,
        "roles": list(ROLES),
        "max_sentences": 1,
        "max_width": 0,
        "max_candidates": 2000,
        "max_apart": MAX_APART,
        "threshold": 0.5,
        "train_on": "gold",
        "pair_loss_weight": 0.5,
        "scorer": {"@scorers": "fgen.links_scorer.v1"},
    },
    default_score_weights={
        "links_f": 1.0,
        "links_p": 0.0,
        "links_r": 0.0,
        "link_pairs_f": None,
        "links_partial_f": None,
        "link_only_f": None,
    },
)
def make_links(
    nlp: Language,
    name: str,
    model: Model[Tuple[List[Doc], LinkBatch], Floats2d],
    spans_key: str,
    roles: List[str],
    max_sentences: int,
    max_width: int,
    max_candidates: int,
    max_apart: int,
    threshold: float,
    train_on: str,
    pair_loss_weight: float,
    scorer: Optional[Callable],
) -> "FgenLinks":
    """Create an `fgen_links` component (see `FgenLinks` for the arguments)."""
    make_forked_children_safe()  # nlp.pipe(n_process=N) forks after torch may have run
    return FgenLinks(
        nlp.vocab, model, name, spans_key=spans_key, roles=roles, max_sentences=max_sentences, max_width=max_width,
        max_candidates=max_candidates, max_apart=max_apart, threshold=threshold, train_on=train_on,
        pair_loss_weight=pair_loss_weight, scorer=scorer,
    )


class FgenLinks(TrainablePipe):
    """Predict 4-way statements over a doc's entities."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[Tuple[List[Doc], LinkBatch], Floats2d],
        name: str = "fgen_links",
        *,
        spans_key: str = SPAN_KEY,
        roles: Sequence[str] = ROLES,
        max_sentences: int = 1,
        max_width: int = 0,
        max_candidates: int = 2000,
        max_apart: int = MAX_APART,
        threshold: float = 0.5,
        train_on: str = "gold",
        pair_loss_weight: float = 0.5,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Create the component.

        vocab (Vocab): the shared vocabulary.
        model (Model): e.g. `fgen.link_model.v1`, with `n_roles == len(roles)`.
        name (str): component name, the key of its loss.
        spans_key (str): span group with the entities (falls back to `doc.ents` when absent).
        roles (Sequence[str]): the category of each statement role.
        max_sentences (int): candidates lie within this many consecutive sentences.
        max_width (int): if > 0, candidates span at most this many tokens.
        max_candidates (int): per doc, at most this many candidates: the narrowest are kept and
            the widest dropped (0: no limit).
        max_apart (int): a candidate's last member is at most this many of the roles' entities
            after its first, in text order (0: no limit); keeps a sentence with very many
            entities linear in time and memory, far above what abstracts' sentences hold.
        threshold (float): a candidate with probability >= threshold becomes a statement.
        train_on (str): "gold" or "gold+predicted" (see the module docstring).
        pair_loss_weight (float): weight of the pair loss next to the tuple loss.
        scorer (Optional[Callable]): scoring function, by default `fgen.links_scorer.v1`.
        """
        if train_on not in TRAIN_ON:
            raise ValueError(f"train_on must be one of {', '.join(TRAIN_ON)}, not {train_on!r}")
        if model.attrs.get("n_roles", len(roles)) != len(roles):
            raise ValueError(f"the link model reads {model.attrs['n_roles']} roles, the component has {len(roles)}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer if scorer is not None else score_links
        self.cfg: Dict[str, Any] = {
            "spans_key": spans_key, "roles": list(roles), "max_sentences": max_sentences, "max_width": max_width,
            "max_candidates": max_candidates, "max_apart": max_apart, "threshold": threshold, "train_on": train_on,
            "pair_loss_weight": pair_loss_weight,
        }

    @property
    def roles(self) -> Tuple[str, ...]:
        """RETURNS (Tuple[str, ...]): the category of each statement role, in model order."""
        return tuple(self.cfg["roles"])

    @property
    def labels(self) -> Tuple[str, ...]:
        """RETURNS (Tuple[str, ...]): the role categories (the component's labels)."""
        return self.roles

    def doc_candidates(self, doc: Doc, entities: Optional[Sequence[Span]] = None) -> DocCandidates:
        """The candidates of `doc` over `entities` (default: the doc's entities).

        doc (Doc): the document.
        entities (Optional[Sequence[Span]]): spans of `doc` to link.
        RETURNS (DocCandidates): the role entities, the candidates and their feature rows.
        """
        roles = self.roles
        ents = [e for e in (entity_spans(doc, self.cfg["spans_key"]) if entities is None else entities) if e.label_ in roles]
        ents.sort(key=lambda e: (e.start, e.end, e.label_))
        sent_ids = sentence_ids(doc)
        cands = candidate_tuples(
            ents, sent_ids, roles, self.cfg["max_sentences"], self.cfg["max_width"], limit=int(self.cfg["max_candidates"]),
            max_apart=int(self.cfg.get("max_apart", MAX_APART)),
        )
        return DocCandidates(ents, cands, tuple_features(ents, cands, sent_ids, roles))

    def _batch(self, per_doc: Sequence[DocCandidates]) -> LinkBatch:
        ops = self.model.ops
        spans, tuples, feats, offset = [], [], [], 0
        for dc in per_doc:
            # Only entities that take part in a candidate are pooled.
            used = sorted({i for c in dc.candidates for i in c})
            row = {i: offset + k for k, i in enumerate(used)}
            spans.append([(dc.entities[i].start, dc.entities[i].end) for i in used])
            tuples.extend([row[i] for i in c] for c in dc.candidates)
            feats.extend(dc.features)
            offset += len(used)
        flat = [pair for doc_spans in spans for pair in doc_spans]
        n_feats = n_tuple_features(len(self.roles))
        return LinkBatch(
            Ragged(ops.asarray2i(flat) if flat else ops.alloc2i(0, 2), ops.asarray1i([len(s) for s in spans])),
            ops.asarray2i(tuples) if tuples else ops.alloc2i(0, len(self.roles)),
            ops.asarray2f(feats) if feats else ops.alloc2f(0, n_feats),
        )

    def predict(self, docs: Iterable[Doc]) -> List[DocScores]:
        """Score every candidate statement of each doc, without modifying the docs.

        docs (Iterable[Doc]): the documents, with entities.
        RETURNS (List[DocScores]): per doc, its candidates and their probabilities.
        """
        docs = list(docs)
        per_doc = [self.doc_candidates(doc) for doc in docs]
        n_pairs = len(role_pairs(len(self.roles)))
        batch = self._batch(per_doc)
        probs = _sigmoid(to_numpy(self.model.predict((docs, batch)))) if len(batch.tuples) else numpy.zeros((0, 1 + n_pairs))
        out, start = [], 0
        for dc in per_doc:
            rows = probs[start : start + len(dc.candidates)]
            out.append(DocScores(dc, rows[:, 0], rows[:, 1:]))
            start += len(dc.candidates)
        return out

    def set_annotations(self, docs: Iterable[Doc], scores: List[DocScores]) -> None:
        """Write the statements with probability >= threshold to `doc._.links` (scores in
        `doc._.link_scores`) and the pair probabilities to `doc._.link_pairs`.

        docs (Iterable[Doc]): the documents passed to `predict`.
        scores (List[DocScores]): the output of `predict`.
        """
        threshold = float(self.cfg["threshold"])
        pairs = role_pairs(len(self.roles))
        for doc, doc_scores in zip(docs, scores):
            ents = doc_scores.candidates.entities
            chosen = [
                (cand, float(p)) for cand, p in zip(doc_scores.candidates.candidates, doc_scores.tuple_probs) if p >= threshold
            ]
            chosen.sort(key=lambda cp: (sorted(ents[i].start for i in cp[0]), -cp[1]))
            set_links(doc, [dict(zip(self.roles, (ents[i] for i in cand))) for cand, _ in chosen], [p for _, p in chosen])
            best: Dict[Tuple[int, int], float] = {}
            for cand, row in zip(doc_scores.candidates.candidates, doc_scores.pair_probs):
                for (i, j), p in zip(pairs, row):
                    key = (cand[i], cand[j]) if cand[i] < cand[j] else (cand[j], cand[i])
                    best[key] = max(best.get(key, 0.0), float(p))
            set_link_pairs(doc, [(ents[a], ents[b], p) for (a, b), p in sorted(best.items())])

    def _training_candidates(self, eg: Example) -> Tuple[DocCandidates, List[float], List[List[float]]]:
        """Candidates over the gold (and predicted) entities of `eg`, with tuple and pair labels."""
        pred = eg.predicted
        gold_spans: Dict[SpanKey, Span] = {}
        ref_to_pred: Dict[SpanKey, SpanKey] = {}
        for ref_span in entity_spans(eg.reference, self.cfg["spans_key"]):
            aligned = eg.get_aligned_spans_y2x([ref_span], allow_overlap=True)
            if aligned:
                span = Span(pred, aligned[0].start, aligned[0].end, label=ref_span.label_)
                gold_spans[_key(span)] = span
                ref_to_pred[_key(ref_span)] = _key(span)
        entities = dict(gold_spans)
        if self.cfg["train_on"] == "gold+predicted":
            for span in entity_spans(pred, self.cfg["spans_key"]):
                entities.setdefault(_key(span), span)
        statements: Set[frozenset] = set()
        linked_pairs: Set[frozenset] = set()
        for link in get_links(eg.reference):
            members = [ref_to_pred.get(_key(span)) for span in link.values()]
            if None in members:
                continue  # a member could not be aligned to the predicted tokens
            statements.add(frozenset(members))
            linked_pairs.update(frozenset((a, b)) for a in members for b in members if a != b)
        dc = self.doc_candidates(pred, list(entities.values()))
        keys = [_key(e) for e in dc.entities]
        pairs = role_pairs(len(self.roles))
        tuple_gold = [float(frozenset(keys[i] for i in c) in statements) for c in dc.candidates]
        pair_gold = [[float(frozenset((keys[c[i]], keys[c[j]])) in linked_pairs) for i, j in pairs] for c in dc.candidates]
        return dc, tuple_gold, pair_gold

    def _gold(self, examples: Sequence[Example]) -> Tuple[List[DocCandidates], numpy.ndarray]:
        """Per example its training candidates (none for docs without link annotation) and the
        gold matrix (n_candidates, 1 + n_pairs) of tuple and pair labels."""
        per_doc, rows = [], []
        for eg in examples:
            if not links_annotated(eg.reference):
                per_doc.append(DocCandidates([], [], []))
                continue
            dc, tuple_gold, pair_gold = self._training_candidates(eg)
            per_doc.append(dc)
            rows.extend([t, *p] for t, p in zip(tuple_gold, pair_gold))
        n_out = 1 + len(role_pairs(len(self.roles)))
        return per_doc, numpy.asarray(rows, dtype="float32").reshape(-1, n_out)

    def _loss(self, logits: Floats2d, gold: numpy.ndarray) -> Tuple[float, Floats2d]:
        ops = self.model.ops
        n = gold.shape[0]
        probs = _sigmoid(to_numpy(logits))
        eps = 1e-7
        bce = -(gold * numpy.log(probs + eps) + (1 - gold) * numpy.log(1 - probs + eps))
        # tuple loss: mean over candidates; pair loss: mean over candidates and pairs, weighted
        weights = numpy.full(gold.shape[1], float(self.cfg["pair_loss_weight"]) / (gold.shape[1] - 1), dtype="float32")
        weights[0] = 1.0
        loss = float((bce * weights).sum() / n)
        return loss, ops.asarray2f((probs - gold) * weights / n)

    def get_loss(self, examples: Iterable[Example], scores: Floats2d) -> Tuple[float, Floats2d]:
        """Binary cross-entropy of the candidates and their pairs.

        examples (Iterable[Example]): the batch.
        scores (Floats2d): the model's logits for the candidates of `_gold(examples)`.
        RETURNS (Tuple[float, Floats2d]): the loss and the gradient of the logits.
        """
        return self._loss(scores, self._gold(list(examples))[1])

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from the link-annotated examples of a batch.

        examples (Iterable[Example]): the batch.
        drop (float): dropout rate.
        sgd (Optional[Optimizer]): the optimizer.
        losses (Optional[Dict[str, float]]): losses so far, updated under the component name.
        RETURNS (Dict[str, float]): the updated losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "FgenLinks.update")
        per_doc, gold = self._gold(examples)
        if gold.shape[0] == 0:
            backprop_nothing(self.model.get_ref("tok2vec"), [eg.predicted for eg in examples])
            return losses
        set_dropout_rate(self.model, drop)
        # Every doc of the batch goes to the tok2vec (a listener checks it sees the whole batch).
        logits, backprop = self.model.begin_update(([eg.predicted for eg in examples], self._batch(per_doc)))
        loss, d_logits = self._loss(logits, gold)
        backprop(d_logits)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Initialize the model on examples that have candidate statements.

        get_examples (Callable[[], Iterable[Example]]): gold examples; those with link annotation
            and at least one candidate (one entity per role in a window) shape the model.
        nlp (Optional[Language]): the pipeline.
        """
        validate_get_examples(get_examples, "FgenLinks.initialize")
        sample: List[Example] = []
        for eg in get_examples():
            if links_annotated(eg.reference) and self._training_candidates(eg)[0].candidates:
                sample.append(eg)
            if len(sample) >= 10:
                break
        if not sample:
            raise ValueError(
                f"[{self.name}] no training example has link annotation and one entity of each role "
                f"({', '.join(self.roles)}) within {self.cfg['max_sentences']} sentence(s)"
            )
        per_doc, _ = self._gold(sample)
        self.model.initialize(X=([eg.predicted for eg in sample], self._batch(per_doc)))

    def add_label(self, label: str) -> int:
        raise NotImplementedError(f"[{self.name}] the roles are set in the config (roles = [...]), not by add_label")
