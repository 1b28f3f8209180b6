"""What keeps the word-level category F down: each wrong word of the `category` head, by kind.

The words and the label of each word are those of `word_scores` (whitespace words, the
category of the span overlapping the word). Every word whose gold and predicted category
differ gets one kind:
- `label`: both sides tag the word, with different categories (a false positive and a false
  negative at once, as in `word_scores`);
- `edge_missing`: gold tags the word, the prediction does not, but a predicted entity overlaps
  the word's gold entity: the prediction stops short of the gold edge;
- `edge_extra`: the prediction tags the word, gold does not, but a gold entity overlaps the
  word's predicted entity: the prediction reaches past the gold edge;
- `missed`: gold tags the word and no predicted entity overlaps its gold entity;
- `spurious`: the prediction tags the word and no gold entity overlaps its predicted entity.
Kinds are counted per category (the gold one for `label`, `edge_missing` and `missed`, the
predicted one for `edge_extra` and `spurious`), with the true positives under `tp`, so the
word-level F can be read against what removing one kind of error would give.
"""
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence

from spacy.tokens import Span
from spacy.training import Example

from fgen.doc_layout import entity_spans
from fgen.scoring.word_scores import PRF, word_tags

FALSE_NEGATIVE_KINDS = ("edge_missing", "missed")
FALSE_POSITIVE_KINDS = ("edge_extra", "spurious")
ERROR_KINDS = ("label", *FALSE_NEGATIVE_KINDS, *FALSE_POSITIVE_KINDS)


def _overlaps_any(span: Span, others: Sequence[Span]) -> bool:
    return any(o.start_char < span.end_char and span.start_char < o.end_char for o in others)


def _kind(gold: Optional[Span], pred: Optional[Span], gold_spans: Sequence[Span], pred_spans: Sequence[Span]) -> str:
    """The kind of one word (`tp`, "" for a word outside on both sides, or an error kind)."""
    if gold is None and pred is None:
        return ""
    if gold is not None and pred is not None:
        return "tp" if gold.label_ == pred.label_ else "label"
    if gold is not None:
        return "edge_missing" if _overlaps_any(gold, pred_spans) else "missed"
    return "edge_extra" if _overlaps_any(pred, gold_spans) else "spurious"


def word_errors(examples: Iterable[Example]) -> Dict[str, Counter]:
    """Words of the category head per category and kind (see the module docstring).

    examples (Iterable[Example]): predicted and gold docs of the same texts.
    RETURNS (Dict[str, Counter]): {category: Counter({"tp": n, "missed": n, ...})}.
    """
    counts: Dict[str, Counter] = defaultdict(Counter)
    for eg in examples:
        gold_spans, pred_spans = entity_spans(eg.reference), entity_spans(eg.predicted)
        gold_words = word_tags(eg.reference.text, gold_spans)
        pred_words = word_tags(eg.predicted.text, pred_spans)
        for gold, pred in zip(gold_words, pred_words):
            kind = _kind(gold, pred, gold_spans, pred_spans)
            if kind:
                owner = pred if kind in FALSE_POSITIVE_KINDS else gold
                counts[owner.label_][kind] += 1
    return dict(counts)


def _f(tp: int, fp: int, fn: int) -> float:
    """F from counts, as `word_scores` computes it."""
    return PRF(tp=tp, fp=fp, fn=fn).fscore


def word_error_rows(errors: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """Table rows: per error kind, its words in all and per category, and the category head's
    word-level F with those errors gone (a missed or short-edged word found, or a word with
    the wrong label fixed, becomes a true positive; a spurious or overreaching word is left out).
    Accepts the Counters of `word_errors` or their JSON form (plain dicts)."""
    labels = sorted(errors)
    total = Counter()
    for label in labels:
        total.update(errors[label])
    tp = total["tp"]
    fp = total["label"] + sum(total[k] for k in FALSE_POSITIVE_KINDS)
    fn = total["label"] + sum(total[k] for k in FALSE_NEGATIVE_KINDS)
    rows = [["(none removed)", "", *["" for _ in labels], f"{100 * _f(tp, fp, fn):.1f}"]]
    for kind in ERROR_KINDS:
        n = total[kind]
        if kind == "label":
            without = _f(tp + n, fp - n, fn - n)
        elif kind in FALSE_NEGATIVE_KINDS:
            without = _f(tp + n, fp, fn - n)
        else:
            without = _f(tp, fp - n, fn)
        rows.append([kind, str(n), *[str(errors[label].get(kind, 0)) for label in labels], f"{100 * without:.1f}"])
    return rows


def word_error_header(errors: Dict[str, Dict[str, int]]) -> List[str]:
    """The header of `word_error_rows` for the same errors."""
    return ["kind", "words", *sorted(errors), "words category F without them"]


__all__ = ["word_errors", "word_error_rows", "word_error_header", "ERROR_KINDS"]
