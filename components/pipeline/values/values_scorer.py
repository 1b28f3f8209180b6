"""The `fgen_values` scorer: an entity counts only with its span, category and value all right."""
from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, Tuple

import spacy
from spacy.scorer import PRFScore
from spacy.training import Example

from fgen.doc_layout import SPAN_KEY, entity_spans


def score_values(examples: Iterable[Example], *, spans_key: str = SPAN_KEY, **kwargs: Any) -> Dict[str, Any]:
    """Score entity values.

    A predicted entity is correct only if its char offsets, label and kb_id all match a gold
    entity (`values_p/r/f`, and per category in `values_per_type`). `values_acc` is the share of
    predicted entities with a correct kb_id among those whose offsets and label match a gold
    entity (None when there are none), and per category as `acc` in `values_per_type`.
    Entities are read with `fgen.doc_layout.entity_spans`.

    examples (Iterable[Example]): predicted and reference docs.
    spans_key (str): span group to read (else `doc.ents`).
    RETURNS (Dict[str, Any]): the scores; p/r/f are None when no doc holds any entity.
    """
    total = PRFScore()
    per_type: Dict[str, PRFScore] = defaultdict(PRFScore)
    matched: Dict[str, int] = defaultdict(int)
    correct: Dict[str, int] = defaultdict(int)
    for eg in examples:
        gold = {(s.start_char, s.end_char, s.label_, s.kb_id_) for s in entity_spans(eg.reference, spans_key)}
        pred = {(s.start_char, s.end_char, s.label_, s.kb_id_) for s in entity_spans(eg.predicted, spans_key)}
        gold_values: Dict[Tuple[int, int, str], set] = defaultdict(set)
        for start, end, label, kb_id in gold:
            gold_values[(start, end, label)].add(kb_id)
        for item in pred:
            hit = item in gold
            for score in (total, per_type[item[2]]):
                score.tp += hit
                score.fp += not hit
            if item[:3] in gold_values:
                matched[item[2]] += 1
                correct[item[2]] += item[3] in gold_values[item[:3]]
        for item in gold - pred:
            total.fn += 1
            per_type[item[2]].fn += 1
    scored = total.tp + total.fp + total.fn > 0
    n_matched, n_correct = sum(matched.values()), sum(correct.values())
    per_type_scores = {label: score.to_dict() for label, score in sorted(per_type.items())}
    for label, scores in per_type_scores.items():
        scores["acc"] = correct[label] / matched[label] if matched[label] else None
    return {
        "values_p": total.precision if scored else None,
        "values_r": total.recall if scored else None,
        "values_f": total.fscore if scored else None,
        "values_acc": n_correct / n_matched if n_matched else None,
        "values_per_type": per_type_scores,
    }


@spacy.registry.scorers("fgen.values_scorer.v1")
def make_values_scorer() -> Callable[..., Dict[str, Any]]:
    """The `fgen_values` scorer: strict entity+value P/R/F, per category, and value accuracy."""
    return score_values
