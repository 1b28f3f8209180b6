"""What kind of mistakes an entity recogniser makes, per category.

Each gold entity and each predicted entity of an example gets one class:
- `exact`: the same span with the same label on the other side;
- `boundary`: same label, overlapping, but a different span (`left`, `right` or `both` edges off,
  and whether the prediction is `wider` or `narrower`);
- `label`: the same span with another label;
- `label+boundary`: overlapping, another label and another span;
- `missed` (gold) / `spurious` (predicted): nothing overlapping on the other side.
Counted per category, so strict F can be read against what fixing one kind of error would give.
"""
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Sequence, Tuple

from spacy.tokens import Span
from spacy.training import Example

from fgen.doc_layout import entity_spans

Key = Tuple[int, int, str]  # (start_char, end_char, label)


def _key(span: Span) -> Key:
    return span.start_char, span.end_char, span.label_


def _overlaps(a: Key, b: Key) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def classify(span: Key, others: Sequence[Key]) -> str:
    """The error class of `span` against the spans on the other side (see the module docstring)."""
    if span in others:
        return "exact"
    overlapping = [o for o in others if _overlaps(span, o)]
    if not overlapping:
        return ""
    if any(o[:2] == span[:2] for o in overlapping):
        return "label"
    if any(o[2] == span[2] for o in overlapping):
        return "boundary"
    return "label+boundary"


def boundary_detail(pred: Key, gold: Key) -> str:
    """Which edges of a predicted span differ from an overlapping gold span, and how."""
    edges = "both" if pred[0] != gold[0] and pred[1] != gold[1] else ("left" if pred[0] != gold[0] else "right")
    width = pred[1] - pred[0] - (gold[1] - gold[0])
    return f"{edges}, {'wider' if width > 0 else 'narrower' if width < 0 else 'shifted'}"


def entity_errors(examples: Iterable[Example]) -> Dict[str, Dict[str, Counter]]:
    """Error classes per category, for gold and for predicted entities.

    examples (Iterable[Example]): predicted and reference docs.
    RETURNS (Dict[str, Dict[str, Counter]]): {"gold": {label: Counter(class)}, "pred": {...},
        "boundary": {label: Counter(boundary detail)}}; gold classes use "missed", predicted
        ones "spurious" where nothing overlaps.
    """
    result: Dict[str, Dict[str, Counter]] = {"gold": defaultdict(Counter), "pred": defaultdict(Counter),
                                             "boundary": defaultdict(Counter)}
    for eg in examples:
        gold = [_key(s) for s in entity_spans(eg.reference)]
        pred = [_key(s) for s in entity_spans(eg.predicted)]
        for g in gold:
            result["gold"][g[2]][classify(g, pred) or "missed"] += 1
        for p in pred:
            kind = classify(p, gold) or "spurious"
            result["pred"][p[2]][kind] += 1
            if kind == "boundary":
                match = next(g for g in gold if g[2] == p[2] and _overlaps(p, g))
                result["boundary"][p[2]][boundary_detail(p, match)] += 1
    return {side: dict(counts) for side, counts in result.items()}


ERROR_CLASSES = ["exact", "boundary", "label", "label+boundary"]


def error_rows(errors: Dict[str, Dict[str, Counter]]) -> List[List[str]]:
    """Table rows: per category, gold counts by class and missed, predicted spurious, and the
    strict F with boundary errors forgiven (what perfect edges would give)."""
    rows = []
    for label in sorted(set(errors["gold"]) | set(errors["pred"])):
        # Counters, or plain dicts after a JSON round trip: missing classes count 0.
        g = Counter(errors["gold"].get(label, {}))
        p = Counter(errors["pred"].get(label, {}))
        n_gold, n_pred = sum(g.values()), sum(p.values())
        strict = 2 * g["exact"] / (n_gold + n_pred) if n_gold + n_pred else 0.0
        lenient = 2 * (g["exact"] + g["boundary"]) / (n_gold + n_pred) if n_gold + n_pred else 0.0
        rows.append([label, str(n_gold), str(n_pred), *[str(g[c]) for c in ERROR_CLASSES], str(g["missed"]),
                     str(p["spurious"]), f"{100 * strict:.1f}", f"{100 * lenient:.1f}"])
    return rows


ERROR_HEADER = ["category", "gold", "predicted", "exact", "boundary", "label", "label+boundary", "missed",
                "spurious (pred)", "strict F", "F if edges were right"]
