"""Word-level scores as the original functional-genomics-ie project computed them.

spaCy's own scores (`ents_*` from `fgen_ner`, `values_*` from `fgen_values`) are exact-span
scores. The original project reported F1 over *words*, and these scores exist only to compare
with its published numbers:

- Words: the text split on spaces and newlines (``" "``, ``"\\n"``; tabs and carriage returns
  count as separators too). Every word keeps its character offsets, so punctuation stays glued
  to its word ("cells," is one word) exactly as in a whitespace split.
- A word takes the category and the value of a tag that overlaps it by at least one character.
  When several tags overlap one word (V1 has overlapping entities; a word can also straddle two
  adjacent tags, e.g. "PP242-induced"), the tag with the smallest start offset wins; ties go
  to the longer tag, then to the earlier one in `doc.spans["fgen"]`.
- Heads: ``category`` plus one head per value field of the scheme (V2: ``perturbing_action``,
  ``context``, ``effect``, ``phenotype``). A word's label for ``category`` is its tag's label;
  for a value head it is the tag's value for that field when the tag's category owns the field
  (`Category.split_values(kb_id)`), else ``O``. A word outside every tag is ``O`` in all heads;
  a predicted tag without a value (empty `kb_id`) is ``O`` in the value heads.
- Counts per head over all words of all docs (micro): tp when gold and prediction are the same
  non-O label; otherwise fp when the prediction is not O and fn when the gold label is not O (a
  wrong label is both). P = tp/(tp+fp), R = tp/(tp+fn), F = 2PR/(P+R), 0.0 when undefined.

Without a scheme the heads are derived from the docs: every label seen with a non-empty kb_id
gets one value head named after the label in lower case (V2's field names are exactly that:
``PERTURBING_ACTION`` -> ``perturbing_action``), and the whole kb_id is its value. Labels whose
kb_ids hold several values joined by ``|`` (V1) get one head per position instead,
``<label>_1``, ``<label>_2``, ... Pass the scheme for V1 to get the field names
(``experiment_type``, ``species``, ...) and V1's shared ``phenotype`` field.

Which spans: `doc.spans["fgen"]` when the doc has that key, else `doc.ents`.
"""
import re
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.training import Example

from fgen.doc_layout import entity_spans
from fgen.corpus.schemes import VALUE_SEPARATOR, Scheme, find_definitions_dir, load_scheme

OUTSIDE = "O"
CATEGORY_HEAD = "category"
WORD_RE = re.compile(r"[^ \n\t\r]+")

# A value head: which labels own it and, per label, how to read the value from a kb_id.
# The reader is (field name) for a scheme, or (position, n_parts) for derived heads.
Reader = Union[str, Tuple[int, int]]


class PRF(PRFScore):
    """spaCy's PRFScore, counting one word of one head at a time."""

    def add(self, gold: str, pred: str) -> None:
        """Count a word: tp when gold and prediction agree on a non-O label, else fp/fn."""
        if gold == pred:
            if gold != OUTSIDE:
                self.tp += 1
            return
        if pred != OUTSIDE:
            self.fp += 1
        if gold != OUTSIDE:
            self.fn += 1


def split_words(text: str) -> List[Tuple[int, int]]:
    """(start, end) character offsets of the words of `text` (split on spaces and newlines)."""
    return [(m.start(), m.end()) for m in WORD_RE.finditer(text)]


def word_tags(text: str, spans: Sequence[Span]) -> List[Optional[Span]]:
    """For each word of `text`, the span it takes its labels from (None when outside every span).

    A span overlapping the word by at least one character counts; among several, the one with
    the smallest start offset, then the longest, then the first in `spans`.
    """
    words = split_words(text)
    ordered = sorted(enumerate(spans), key=lambda p: (p[1].start_char, -p[1].end_char, p[0]))
    result: List[Optional[Span]] = [None] * len(words)
    # Both lists are sorted by start; a span can overlap many words, so scan per span with bisect.
    starts = [w[0] for w in words]
    for _, span in ordered:
        s, e = span.start_char, span.end_char
        if e <= s:
            continue
        # words overlapping [s, e): word.start < e and word.end > s
        lo = bisect_left(starts, s)
        if lo > 0 and words[lo - 1][1] > s:
            lo -= 1
        hi = bisect_right(starts, e - 1)
        for i in range(lo, hi):
            if result[i] is None and words[i][1] > s and words[i][0] < e:
                result[i] = span
    return result


class WordHeads:
    """The heads scored and how each one reads a label off a span."""

    def __init__(self, value_heads: Dict[str, Dict[str, Reader]], scheme: Optional[Scheme] = None):
        self.value_heads = value_heads  # head -> {category label -> reader}
        self.scheme = scheme

    @property
    def names(self) -> List[str]:
        return [CATEGORY_HEAD, *self.value_heads]

    @classmethod
    def from_scheme(cls, scheme: Scheme) -> "WordHeads":
        heads: Dict[str, Dict[str, Reader]] = {}
        for category in scheme.categories:
            for fld in category.fields:
                heads.setdefault(fld.name, {})[category.label] = fld.name
        return cls(heads, scheme)

    @classmethod
    def from_docs(cls, docs: Iterable[Doc]) -> "WordHeads":
        parts: Dict[str, int] = {}
        for doc in docs:
            for span in entity_spans(doc):
                if span.kb_id_:
                    n = len(span.kb_id_.split(VALUE_SEPARATOR))
                    parts[span.label_] = max(parts.get(span.label_, 0), n)
        heads: Dict[str, Dict[str, Reader]] = {}
        for label in sorted(parts):
            n = parts[label]
            if n == 1:
                heads[label.lower()] = {label: (0, 1)}
            else:
                for i in range(n):
                    heads[f"{label.lower()}_{i + 1}"] = {label: (i, n)}
        return cls(heads)

    def label(self, head: str, span: Optional[Span]) -> str:
        if span is None:
            return OUTSIDE
        if head == CATEGORY_HEAD:
            return span.label_
        reader = self.value_heads[head].get(span.label_)
        if reader is None or not span.kb_id_:
            return OUTSIDE
        if isinstance(reader, str):
            assert self.scheme is not None
            try:
                category = self.scheme.category(span.label_)
            except KeyError:
                return OUTSIDE
            return category.split_values(span.kb_id_)[reader] or OUTSIDE
        position, n_parts = reader
        if n_parts == 1:
            return span.kb_id_
        values = span.kb_id_.split(VALUE_SEPARATOR)
        return values[position] if position < len(values) and values[position] else OUTSIDE


def word_counts(examples: Iterable[Example], scheme: Optional[Scheme] = None) -> Dict[str, PRF]:
    """tp/fp/fn per head over the words of all examples (see the module docstring)."""
    examples = list(examples)
    if scheme is not None:
        heads = WordHeads.from_scheme(scheme)
    else:
        heads = WordHeads.from_docs([d for eg in examples for d in (eg.reference, eg.predicted)])
    counts = {name: PRF() for name in heads.names}
    for eg in examples:
        gold_doc, pred_doc = eg.reference, eg.predicted
        if gold_doc.text != pred_doc.text:
            raise ValueError("word scores need the predicted and the gold doc to have the same text")
        gold = word_tags(gold_doc.text, entity_spans(gold_doc))
        pred = word_tags(pred_doc.text, entity_spans(pred_doc))
        for name in heads.names:
            prf = counts[name]
            for g, p in zip(gold, pred):
                prf.add(heads.label(name, g), heads.label(name, p))
    return counts


def score_words(examples: Iterable[Example], scheme: Optional[Scheme] = None) -> Dict[str, float]:
    """Word-level micro P/R/F per head, as the original project scored.

    examples (Iterable[Example]): predicted and gold docs of the same texts.
    scheme (Optional[Scheme]): gives the heads (category + every value field). Without it the
        heads are derived from the labels and kb_ids in the docs (see the module docstring).
    RETURNS (Dict[str, float]): `words_<head>_p`, `words_<head>_r`, `words_<head>_f` per head,
        e.g. `words_category_f`, `words_perturbing_action_f`.
    """
    scores: Dict[str, float] = {}
    for name, prf in word_counts(examples, scheme).items():
        scores[f"words_{name}_p"] = prf.precision
        scores[f"words_{name}_r"] = prf.recall
        scores[f"words_{name}_f"] = prf.fscore
    return scores


def scored_heads(scores: Mapping[str, Any]) -> List[str]:
    """The heads scored in `scores` (the `<head>` of each `words_<head>_f` key): category
    first, then the others alphabetically.

    scores (Mapping[str, Any]): a `score_words` result, or a dict that contains one.
    RETURNS (List[str]): e.g. ["category", "context", "effect", ...].
    """
    heads = [k[len("words_"):-len("_f")] for k in scores if k.startswith("words_") and k.endswith("_f")]
    return sorted(set(heads), key=lambda head: (head != CATEGORY_HEAD, head))


def scheme_of_docs(docs: Iterable[Doc], definitions: Optional[Path] = None, search_from: Sequence[Path] = ()) -> Optional[Scheme]:
    """The scheme named by the docs' provenance (`doc._.provenance["scheme"]`), loaded from
    `definitions` or from the first folder holding its files above `search_from`.

    RETURNS (Optional[Scheme]): None when the docs name no scheme or no definition files are
        found (word scores then derive their heads from the docs). Raises ValueError when the
        docs name several schemes.
    """
    names = set()
    for doc in docs:
        prov = doc._.provenance or {}
        if prov.get("scheme"):
            names.add(str(prov["scheme"]).lower())
    if not names:
        return None
    if len(names) > 1:
        raise ValueError(f"the docs mix annotation schemes: {', '.join(sorted(names))}")
    name = names.pop()
    folder = Path(definitions) if definitions is not None else find_definitions_dir(search_from, name)
    if folder is None:
        return None
    return load_scheme(folder, name)


__all__ = ["score_words", "word_counts", "split_words", "word_tags", "scheme_of_docs", "WordHeads", "PRF"]
