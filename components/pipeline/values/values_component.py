"""`fgen_values`: assign a normalised value (`span.kb_id_`) to every entity.

The entities are read from `doc.spans[spans_key]` when the Doc has that group, else from
`doc.ents` (gold, or predicted by an upstream NER). Each span is scored over all
(category, value) labels by `fgen.value_model.v1`; the scores are masked to the values of the
span's own category before the softmax, so the value is always one of its category's list.
The chosen value goes to `kb_id_` on both the span group and `doc.ents` (when set), its
probability to `span._.value_confidence`. Entities of a category without labels get `""` and
`None`.

Labels are (category, value) pairs: the scheme's value lists (`initialize(definitions=...,
scheme=...)`, so values never seen in training are valid outputs) plus values seen in the
training data. Multi-field (V1) categories use the joined kb_id (`"a|b"`, see
`fgen.corpus.schemes.VALUE_SEPARATOR`) as one label; the scheme adds every combination of the fields.

Training always learns from the reference (gold) entities, mapped onto the predicted doc
through the example's alignment, whatever entities the predicted doc holds. So the component
trains the same with or without an upstream NER in `[training] annotating_components`. Gold
values outside the label set are left out of the loss.
"""
from itertools import product
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from thinc.api import Model, Optimizer, set_dropout_rate, to_numpy
from thinc.types import Floats2d, Ints1d, Ragged

from fgen.doc_layout import SPAN_KEY, entity_spans
from fgen.pipeline.layers.listener_updates import backprop_nothing
from fgen.pipeline.layers.model_defaults import default_model_config
from fgen.corpus.schemes import VALUE_SEPARATOR, Scheme, load_scheme
from fgen.pipeline.values.values_scorer import score_values
from fgen.util.forking import make_forked_children_safe
from fgen.pipeline.values import values_model  # noqa: F401  registers fgen.value_model.v1

Label = Tuple[str, str]  # (category, value)

DEFAULT_MODEL = default_model_config("fgen.value_model.v1", hidden_width=128, dropout=0.1, nO=None)


def scheme_labels(scheme: Scheme) -> List[Label]:
    """All (category, value) labels of a scheme, in definition order; for a category with
    several value fields, every combination joined as in `Category.join_values`."""
    return [
        (cat.label, VALUE_SEPARATOR.join(combo))
        for cat in scheme.categories
        if cat.fields
        for combo in product(*(f.values for f in cat.fields))
    ]


class _LabelIndex:
    """Label ids and, per category, which labels belong to it."""

    def __init__(self, labels: Sequence[Label]):
        self.labels = tuple(labels)
        self.ids = {label: i for i, label in enumerate(self.labels)}
        self.categories = list(dict.fromkeys(cat for cat, _ in self.labels))
        self.cat_ids = {cat: i for i, cat in enumerate(self.categories)}
        # one mask row per category, plus an all-False row for unknown categories (id -1)
        mask = numpy.zeros((len(self.categories) + 1, len(self.labels)), dtype=bool)
        for i, (cat, _) in enumerate(self.labels):
            mask[self.cat_ids[cat], i] = True
        self.mask = mask
        self._xp_mask: Dict[int, Any] = {}

    def category_id(self, label: str) -> int:
        return self.cat_ids.get(label, -1)

    def mask_for(self, ops: Any, cat_ids: Ints1d) -> Any:
        """Boolean (n_spans, n_labels) array on the ops' device: the labels each span may take."""
        key = id(ops.xp)
        if key not in self._xp_mask:
            self._xp_mask[key] = ops.xp.asarray(self.mask)
        return self._xp_mask[key][cat_ids]


class _Batch(NamedTuple):
    """The spans fed to the model: (start, end) per doc, their category ids and gold label ids."""

    docs: List[Doc]
    spans: List[List[Tuple[int, int]]]
    cat_ids: List[int]
    gold_ids: List[int]

    @property
    def n_spans(self) -> int:
        return len(self.cat_ids)


def _spans_ragged(ops: Any, spans: List[List[Tuple[int, int]]]) -> Ragged:
    flat = [pair for doc_spans in spans for pair in doc_spans]
    data = ops.asarray2i(flat) if flat else ops.alloc2i(0, 2)
    return Ragged(data, ops.asarray1i([len(doc_spans) for doc_spans in spans]))


def _masked_softmax(xp: Any, logits: Floats2d, mask: Any) -> Floats2d:
    """Softmax over the allowed labels of each row; every row must allow at least one."""
    z = xp.where(mask, logits, -xp.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = xp.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class FgenValues(TrainablePipe):
    """Assign `span.kb_id_` (and `span._.value_confidence`) to every entity."""

    def __init__(
        self,
        vocab: Any,
        model: Model[Tuple[List[Doc], Ragged], Floats2d],
        name: str = "fgen_values",
        *,
        spans_key: str = SPAN_KEY,
        threshold: float = 0.0,
        scorer: Optional[Callable] = None,
    ) -> None:
        """Create the component.

        vocab (Vocab): the shared vocabulary.
        model (Model): e.g. `fgen.value_model.v1`, logits over all labels per span.
        name (str): component name, the key of its loss.
        spans_key (str): span group read and written (falls back to `doc.ents` when absent).
        threshold (float): a value whose probability is below it is not assigned (`kb_id_` "");
            its confidence is still stored.
        scorer (Optional[Callable]): scoring function, by default `fgen.values_scorer.v1`.
        """
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer if scorer is not None else score_values
        self.cfg: Dict[str, Any] = {"labels": [], "spans_key": spans_key, "threshold": threshold}
        self._index_cache: Optional[_LabelIndex] = None

    @property
    def key(self) -> str:
        """The span group the component reads and writes."""
        return str(self.cfg["spans_key"])

    @property
    def value_labels(self) -> Tuple[Label, ...]:
        """RETURNS (Tuple[Tuple[str, str], ...]): the (category, value) labels, in output order."""
        return tuple((str(cat), str(value)) for cat, value in self.cfg["labels"])

    @property
    def labels(self) -> Tuple[str, ...]:
        """RETURNS (Tuple[str, ...]): the labels as strings "CATEGORY=value" (spaCy's meta and
        `nlp.pipe_labels` expect strings); `value_labels` has them as pairs."""
        return tuple(f"{cat}={value}" for cat, value in self.value_labels)

    @property
    def label_data(self) -> List[List[str]]:
        """RETURNS (List[List[str]]): the labels as JSON-friendly pairs, for `initialize(labels=...)`."""
        return [list(label) for label in self.value_labels]

    def _index(self) -> _LabelIndex:
        labels = self.value_labels
        if self._index_cache is None or self._index_cache.labels != labels:
            self._index_cache = _LabelIndex(labels)
        return self._index_cache

    def _scores(self, logits: Floats2d, cat_ids: Sequence[int]) -> Floats2d:
        ops = self.model.ops
        return _masked_softmax(ops.xp, logits, self._index().mask_for(ops, ops.asarray1i(cat_ids)))

    def predict(self, docs: Iterable[Doc]) -> Ragged:
        """Score the entities of each doc, without modifying the docs.

        docs (Iterable[Doc]): the documents.
        RETURNS (Ragged): one row per entity (in `fgen.doc_layout.entity_spans` order; lengths =
            entities per doc) with the probabilities of the labels of its category; all zero
            when its category has no labels.
        """
        docs = list(docs)
        ops = self.model.ops
        index = self._index()
        spans: List[List[Tuple[int, int]]] = []
        rows: List[int] = []
        cat_ids: List[int] = []
        lengths: List[int] = []
        n = 0
        for doc in docs:
            ents = entity_spans(doc, self.key)
            doc_spans = []
            for ent in ents:
                cat = index.category_id(ent.label_)
                if cat >= 0 and len(ent) > 0:
                    doc_spans.append((ent.start, ent.end))
                    rows.append(n)
                    cat_ids.append(cat)
                n += 1
            spans.append(doc_spans)
            lengths.append(len(ents))
        probs = ops.alloc2f(n, len(index.labels))
        if rows:
            logits = self.model.predict((docs, _spans_ragged(ops, spans)))
            probs[ops.asarray1i(rows)] = self._scores(logits, cat_ids)
        return Ragged(probs, ops.asarray1i(lengths))

    def set_annotations(self, docs: Iterable[Doc], scores: Ragged) -> None:
        """Write the best value of each entity to `kb_id_` and its probability to
        `span._.value_confidence`, on the span group (created from `doc.ents` when absent) and
        on `doc.ents` when set.

        docs (Iterable[Doc]): the documents passed to `predict`.
        scores (Ragged): the output of `predict`.
        """
        probs = to_numpy(scores.dataXd)
        labels = self.value_labels
        threshold = float(self.cfg.get("threshold") or 0.0)
        offset = 0
        for doc, n in zip(docs, to_numpy(scores.lengths)):
            values: List[Tuple[str, Optional[float]]] = []
            for row in probs[offset : offset + int(n)]:
                if row.sum() <= 0:
                    values.append(("", None))
                    continue
                best = int(row.argmax())
                conf = float(row[best])
                values.append((labels[best][1] if conf >= threshold else "", conf))
            offset += int(n)
            self._write(doc, entity_spans(doc, self.key), values)

    def _write(self, doc: Doc, ents: List[Span], values: List[Tuple[str, Optional[float]]]) -> None:
        for key in [k for k in doc.user_data if isinstance(k, tuple) and k[:2] == ("._.", "value_confidence")]:
            del doc.user_data[key]  # stale confidences of earlier entities
        new_spans = []
        for ent, (kb_id, conf) in zip(ents, values):
            span = Span(doc, ent.start, ent.end, label=ent.label, kb_id=kb_id, span_id=ent.id)
            span._.value_confidence = conf  # stored per char range: also read from doc.ents
            new_spans.append(span)
        attrs = dict(doc.spans[self.key].attrs) if self.key in doc.spans else {}
        doc.spans[self.key] = SpanGroup(doc, name=self.key, attrs=attrs, spans=new_spans)
        if doc.has_annotation("ENT_IOB"):
            by_bounds = {(s.start, s.end, s.label): s for s in new_spans}
            ents_now = [by_bounds.get((e.start, e.end, e.label), e) for e in doc.ents]
            doc.set_ents(ents_now, default="unmodified")

    def _gold_batch(self, examples: Sequence[Example]) -> _Batch:
        """The reference entities with a known (category, value), aligned to the predicted docs."""
        index = self._index()
        spans, cat_ids, gold_ids = [], [], []
        for eg in examples:
            doc_spans = []
            for gold in entity_spans(eg.reference, self.key):
                label_id = index.ids.get((gold.label_, gold.kb_id_), -1)
                if label_id < 0:
                    continue  # unknown category or value: not learned from
                aligned = eg.get_aligned_spans_y2x([gold], allow_overlap=True)
                if not aligned:
                    continue
                doc_spans.append((aligned[0].start, aligned[0].end))
                cat_ids.append(index.category_id(gold.label_))
                gold_ids.append(label_id)
            spans.append(doc_spans)
        return _Batch([eg.predicted for eg in examples], spans, cat_ids, gold_ids)

    def _loss(self, logits: Floats2d, batch: _Batch) -> Tuple[float, Floats2d]:
        xp = self.model.ops.xp
        probs = self._scores(logits, batch.cat_ids)
        rows = xp.arange(batch.n_spans)
        gold = self.model.ops.asarray1i(batch.gold_ids)
        d_logits = probs.copy()
        d_logits[rows, gold] -= 1.0
        loss = -float(xp.log(probs[rows, gold] + 1e-8).sum())
        return loss / batch.n_spans, d_logits / batch.n_spans

    def get_loss(self, examples: Iterable[Example], scores: Floats2d) -> Tuple[float, Floats2d]:
        """Cross-entropy of the gold values, restricted to each entity's category.

        examples (Iterable[Example]): the batch; gold entities come from the reference docs.
        scores (Floats2d): the model's logits for the spans of `_gold_batch(examples)`.
        RETURNS (Tuple[float, Floats2d]): mean loss per entity and the gradient of the logits.
        """
        return self._loss(scores, self._gold_batch(list(examples)))

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from the gold entities of a batch (never from the predicted doc's entities).

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
        validate_examples(examples, "FgenValues.update")
        batch = self._gold_batch(examples)
        if batch.n_spans == 0:
            backprop_nothing(self.model.get_ref("tok2vec"), batch.docs)
            return losses
        set_dropout_rate(self.model, drop)
        logits, backprop = self.model.begin_update((batch.docs, _spans_ragged(self.model.ops, batch.spans)))
        loss, d_logits = self._loss(logits, batch)
        backprop(d_logits)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[Sequence[str]]] = None,
        definitions: Optional[Union[str, Path]] = None,
        scheme: str = "v2",
    ) -> None:
        """Set the labels and initialize the model.

        get_examples (Callable[[], Iterable[Example]]): gold examples; their (category, kb_id)
            pairs are added to the labels and a few of them shape the model.
        nlp (Optional[Language]): the pipeline.
        labels (Optional[Sequence[Sequence[str]]]): (category, value) pairs, e.g. `label_data`.
        definitions (Optional[Union[str, Path]]): folder with the scheme definition files (the
            corpus root); all values of `scheme` become labels, seen in training or not.
        scheme (str): "v2" or "v1", used with `definitions`.
        """
        validate_get_examples(get_examples, "FgenValues.initialize")
        found: List[Label] = [(str(cat), str(value)) for cat, value in (labels or [])]
        if definitions is not None:
            found.extend(scheme_labels(load_scheme(Path(definitions), scheme)))
        seen = {
            (ent.label_, ent.kb_id_)
            for eg in get_examples()
            for ent in entity_spans(eg.reference, self.key)
            if ent.kb_id_
        }
        all_labels = list(dict.fromkeys(found + sorted(seen)))
        if not all_labels:
            raise ValueError(
                f"[{self.name}] no labels: give `definitions` (scheme files), `labels`, or "
                "examples whose entities have a kb_id"
            )
        output = self.model.get_ref("output_layer")
        if output.has_dim("nO") and output.get_dim("nO") not in (None, len(all_labels)):
            raise ValueError(
                f"[{self.name}] the model has {output.get_dim('nO')} outputs, the labels are {len(all_labels)}"
            )
        self.cfg["labels"] = [list(label) for label in all_labels]
        output.set_dim("nO", len(all_labels))
        self.model.initialize(X=self._init_sample(get_examples))

    def _init_sample(self, get_examples: Callable[[], Iterable[Example]]) -> Tuple[List[Doc], Ragged]:
        """A few docs with spans (gold entities, else the first token) to infer the model's shapes."""
        examples = [eg for eg, _ in zip(get_examples(), range(10)) if len(eg.predicted)]
        batch = self._gold_batch(examples)
        docs, spans = batch.docs, batch.spans
        if batch.n_spans == 0:
            docs = docs[:1] or [Doc(self.vocab, words=["value"])]
            spans = [[(0, 1)]]
        return docs, _spans_ragged(self.model.ops, spans)


@Language.factory(
    "fgen_values",
    assigns=["doc.ents", "token.ent_kb_id", "span._.value_confidence"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": SPAN_KEY,
        "threshold": 0.0,
        "scorer": {"@scorers": "fgen.values_scorer.v1"},
    },
    default_score_weights={
        "values_f": 1.0,
        "values_p": 0.0,
        "values_r": 0.0,
        "values_acc": None,  # can be None (nothing matched): a weight would break the console logger
        "values_per_type": None,
    },
)
def make_values(
    nlp: Language,
    name: str,
    model: Model[Tuple[List[Doc], Ragged], Floats2d],
    spans_key: str,
    threshold: float,
    scorer: Optional[Callable],
) -> FgenValues:
    """Create an `fgen_values` component (see `FgenValues`)."""
    make_forked_children_safe()  # nlp.pipe(n_process=N) forks after torch may have run
    return FgenValues(nlp.vocab, model, name, spans_key=spans_key, threshold=threshold, scorer=scorer)
