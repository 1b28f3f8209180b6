"""Inter-annotator agreement between two MAE annotations of the same abstracts.

Annotator A is the reference and B the prediction: precision and recall swap when the two
are exchanged, F1 does not. Every metric is scheme-generic (categories and value fields come
from the Scheme), so V1's two-value categories and discontinuous entities work too.

- strict entities: same category and identical fragments; one-to-one (a duplicated entity
  matches at most one copy on the other side).
- overlap entities: same category and at least one shared character. One-to-one greedy
  matching: all overlapping same-category pairs are sorted by most shared characters, then
  smallest union (an exact match beats a wider one), then position of A's entity, then of
  B's; a pair is taken when neither of its entities is matched yet.
- values: per (category, field), accuracy and Cohen's kappa over matched entity pairs.
- links: a link is the set of its members' (category, fragments); two links match when the
  sets are equal (same roles filled, identical spans). One-to-one, like strict entities.
- words: the older word-level formula, see `word_agreement`; and B scored against A with the
  word-level F1 the models are scored with (`model_word_scores`), to read a model against.
"""
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from spacy.training import Example

from fgen.corpus.conversion import pmid_of
from fgen.formats.mae import Fragment, MaeDocument, MaeEntity, MaeLink
from fgen.formats.mae_doc import mae_to_doc
from fgen.corpus.schemes import Scheme
from fgen.corpus.tokenizer import make_nlp
from fgen.scoring.word_scores import score_words

CATEGORY_FIELD = "category"  # word-level field holding the category label
ALL = "all"
_WORD_RE = re.compile(r"[^ \n]+")  # words: split on spaces and newlines only

EntityPair = Tuple[MaeEntity, MaeEntity]
ValueKey = Tuple[str, str]  # (category label, value field name)


def _ratio(num: int, den: int) -> Optional[float]:
    return num / den if den else None


@dataclass
class Counts:
    """Matched (tp), B-only (fp) and A-only (fn) items."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> Optional[float]:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> Optional[float]:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> Optional[float]:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def to_dict(self) -> Dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass
class WordCounts:
    """Sums of the word-level formula: agreement = matched / (n_a + n_b - matched)."""

    matched: int = 0
    n_a: int = 0
    n_b: int = 0
    words: int = 0  # words tagged (in this field) by either annotator

    @property
    def agreement(self) -> Optional[float]:
        return _ratio(self.matched, self.n_a + self.n_b - self.matched)

    def add(self, other: "WordCounts") -> None:
        self.matched += other.matched
        self.n_a += other.n_a
        self.n_b += other.n_b
        self.words += other.words

    def to_dict(self) -> Dict:
        return {"matched": self.matched, "n_a": self.n_a, "n_b": self.n_b, "words": self.words, "agreement": self.agreement}


def cohen_kappa(confusion: Mapping[Tuple[str, str], int]) -> Optional[float]:
    """Cohen's kappa from counts of (value by A, value by B) pairs.

    confusion (Mapping): (value A, value B) -> number of items.
    RETURNS (Optional[float]): (p_o - p_e) / (1 - p_e); None when there are no items or
        chance agreement is 1 (both annotators used one and the same value throughout).
    """
    n = sum(confusion.values())
    if not n:
        return None
    p_o = sum(c for (va, vb), c in confusion.items() if va == vb) / n
    marg_a: Counter = Counter()
    marg_b: Counter = Counter()
    for (va, vb), c in confusion.items():
        marg_a[va] += c
        marg_b[vb] += c
    chance = sum(marg_a[v] * marg_b[v] for v in marg_a)  # p_e * n², exact in integers
    if chance == n * n:
        return None
    p_e = chance / (n * n)
    return (p_o - p_e) / (1 - p_e)


def value_summary(confusion: Mapping[Tuple[str, str], int]) -> Dict:
    """n, agreeing pairs, accuracy and kappa of one value field's confusion counts."""
    n = sum(confusion.values())
    agree = sum(c for (va, vb), c in confusion.items() if va == vb)
    return {"n": n, "agree": agree, "accuracy": _ratio(agree, n), "kappa": cohen_kappa(confusion)}


def entity_key(ent: MaeEntity) -> Tuple[str, Tuple[Fragment, ...]]:
    return ent.label, tuple(ent.fragments)


def strict_pairs(doc_a: MaeDocument, doc_b: MaeDocument) -> List[EntityPair]:
    """One-to-one pairs of entities with the same category and identical fragments."""
    pool: Dict[Tuple, List[MaeEntity]] = defaultdict(list)
    for ent in doc_b.entities:
        pool[entity_key(ent)].append(ent)
    pairs = []
    for ent in doc_a.entities:
        same = pool.get(entity_key(ent))
        if same:
            pairs.append((ent, same.pop(0)))
    return pairs


def _length(ent: MaeEntity) -> int:
    return sum(e - s for s, e in ent.fragments)


def shared_chars(x: MaeEntity, y: MaeEntity) -> int:
    """Characters covered by both entities (fragments of one entity never overlap)."""
    return sum(max(0, min(e1, e2) - max(s1, s2)) for s1, e1 in x.fragments for s2, e2 in y.fragments)


def overlap_pairs(doc_a: MaeDocument, doc_b: MaeDocument) -> List[EntityPair]:
    """One-to-one greedy pairs of overlapping same-category entities (see module docstring)."""
    candidates = []
    for i, ea in enumerate(doc_a.entities):
        for j, eb in enumerate(doc_b.entities):
            shared = shared_chars(ea, eb) if ea.label == eb.label else 0
            if shared:
                union = _length(ea) + _length(eb) - shared
                candidates.append((-shared, union, ea.fragments[0][0], eb.fragments[0][0], i, j))
    used_a: Set[int] = set()
    used_b: Set[int] = set()
    pairs = []
    for *_, i, j in sorted(candidates):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((doc_a.entities[i], doc_b.entities[j]))
    return pairs


def entity_counts(pairs: Sequence[EntityPair], doc_a: MaeDocument, doc_b: MaeDocument, scheme: Scheme) -> Dict[str, Counts]:
    """Per-category tp/fp/fn given the matched pairs."""
    n_a = Counter(e.label for e in doc_a.entities)
    n_b = Counter(e.label for e in doc_b.entities)
    tp = Counter(a.label for a, _ in pairs)
    return {lab: Counts(tp[lab], n_b[lab] - tp[lab], n_a[lab] - tp[lab]) for lab in scheme.labels}


def value_confusions(pairs: Sequence[EntityPair], scheme: Scheme) -> Dict[ValueKey, Counter]:
    """(category, field) -> Counter of (value by A, value by B) over matched pairs."""
    confusions: Dict[ValueKey, Counter] = {(c.label, f.name): Counter() for c in scheme.categories for f in c.fields}
    for ent_a, ent_b in pairs:
        for vfield in scheme.category(ent_a.label).fields:
            confusions[ent_a.label, vfield.name][ent_a.values[vfield.name], ent_b.values[vfield.name]] += 1
    return confusions


LinkKey = FrozenSet[Tuple[str, Tuple[Fragment, ...]]]


def link_key(link: MaeLink, doc: MaeDocument) -> LinkKey:
    """A link as the set of its members' (role category, entity fragments)."""
    by_id = {e.id: e for e in doc.entities}
    return frozenset((role, tuple(by_id[ent_id].fragments)) for role, ent_id in link.members.items())


def link_counts(doc_a: MaeDocument, doc_b: MaeDocument) -> Counts:
    """Exact link agreement: one-to-one matches of identical link keys."""
    keys_a = Counter(link_key(link, doc_a) for link in doc_a.links)
    keys_b = Counter(link_key(link, doc_b) for link in doc_b.links)
    tp = sum((keys_a & keys_b).values())
    return Counts(tp, sum(keys_b.values()) - tp, sum(keys_a.values()) - tp)


def words_of(text: str) -> List[Fragment]:
    """(start, end) of each word: maximal runs of characters other than space and newline."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def word_fields(scheme: Scheme) -> List[str]:
    """Word-level fields: "category", then each value field name (first occurrence order)."""
    names = [CATEGORY_FIELD]
    for cat in scheme.categories:
        names += [f.name for f in cat.fields if f.name not in names]
    return names


def word_tags(doc: MaeDocument, scheme: Scheme, words: Sequence[Fragment]) -> List[Set[Tuple[str, str]]]:
    """Per word, the (field, value) pairs of every entity overlapping it by a character."""
    tags: List[Set[Tuple[str, str]]] = [set() for _ in words]
    for ent in doc.entities:
        pairs = {(CATEGORY_FIELD, ent.label)} | {(f.name, ent.values[f.name]) for f in scheme.category(ent.label).fields}
        for i, (ws, we) in enumerate(words):
            if any(s < we and ws < e for s, e in ent.fragments):
                tags[i] |= pairs
    return tags


def word_agreement(doc_a: MaeDocument, doc_b: MaeDocument, scheme: Scheme) -> Dict[str, WordCounts]:
    """The older word-level agreement, overall ("all") and per field.

    Per word tagged by either annotator: matched = |pairs_A & pairs_B|, n_a = |pairs_A|,
    n_b = |pairs_B| (sets of (field, value) pairs); agreement = sum(matched) / sum(n_a + n_b
    - matched). Per field, the same restricted to that field's pairs and to the words where
    either annotator gave a pair of that field.
    """
    words = words_of(doc_a.text)
    result = {name: WordCounts() for name in [ALL, *word_fields(scheme)]}
    for tags_a, tags_b in zip(word_tags(doc_a, scheme, words), word_tags(doc_b, scheme, words)):
        for name, counts in result.items():
            pa = tags_a if name == ALL else {p for p in tags_a if p[0] == name}
            pb = tags_b if name == ALL else {p for p in tags_b if p[0] == name}
            if pa or pb:
                counts.add(WordCounts(len(pa & pb), len(pa), len(pb), 1))
    return result


@dataclass
class Agreement:
    """Agreement counts of one document pair, or summed over many (`add`)."""

    strict: Dict[str, Counts] = field(default_factory=dict)
    overlap: Dict[str, Counts] = field(default_factory=dict)
    values_strict: Dict[ValueKey, Counter] = field(default_factory=dict)
    values_overlap: Dict[ValueKey, Counter] = field(default_factory=dict)
    links: Counts = field(default_factory=Counts)
    words: Dict[str, WordCounts] = field(default_factory=dict)
    n_entities: Tuple[int, int] = (0, 0)
    n_links: Tuple[int, int] = (0, 0)

    @staticmethod
    def _total(per_cat: Dict[str, Counts]) -> Counts:
        total = Counts()
        for counts in per_cat.values():
            total.add(counts)
        return total

    @property
    def strict_total(self) -> Counts:
        return self._total(self.strict)

    @property
    def overlap_total(self) -> Counts:
        return self._total(self.overlap)

    def add(self, other: "Agreement") -> None:
        for mine, theirs in ((self.strict, other.strict), (self.overlap, other.overlap), (self.words, other.words)):
            for key, counts in theirs.items():
                mine.setdefault(key, type(counts)()).add(counts)
        for mine_v, theirs_v in ((self.values_strict, other.values_strict), (self.values_overlap, other.values_overlap)):
            for key, confusion in theirs_v.items():
                mine_v.setdefault(key, Counter()).update(confusion)
        self.links.add(other.links)
        self.n_entities = (self.n_entities[0] + other.n_entities[0], self.n_entities[1] + other.n_entities[1])
        self.n_links = (self.n_links[0] + other.n_links[0], self.n_links[1] + other.n_links[1])

    def to_dict(self) -> Dict:
        def values(confusions: Dict[ValueKey, Counter]) -> List[Dict]:
            return [{"category": cat, "field": name, **value_summary(conf)} for (cat, name), conf in confusions.items()]

        return {
            "n_entities": {"a": self.n_entities[0], "b": self.n_entities[1]},
            "n_links": {"a": self.n_links[0], "b": self.n_links[1]},
            "strict": {**{k: c.to_dict() for k, c in self.strict.items()}, ALL: self.strict_total.to_dict()},
            "overlap": {**{k: c.to_dict() for k, c in self.overlap.items()}, ALL: self.overlap_total.to_dict()},
            "values_strict": values(self.values_strict),
            "values_overlap": values(self.values_overlap),
            "links": self.links.to_dict(),
            "words": {k: c.to_dict() for k, c in self.words.items()},
        }


def compare_documents(doc_a: MaeDocument, doc_b: MaeDocument, scheme: Scheme) -> Agreement:
    """All agreement counts of two annotations of the same text.

    doc_a (MaeDocument): the reference annotation.
    doc_b (MaeDocument): the other annotation; its text must equal doc_a's.
    scheme (Scheme): the scheme both were read with.
    RETURNS (Agreement): the counts (sum several with `Agreement.add`).
    """
    if doc_a.text != doc_b.text:
        raise ValueError("the two annotations have different texts, so their offsets cannot be compared")
    strict = strict_pairs(doc_a, doc_b)
    overlap = overlap_pairs(doc_a, doc_b)
    return Agreement(
        strict=entity_counts(strict, doc_a, doc_b, scheme),
        overlap=entity_counts(overlap, doc_a, doc_b, scheme),
        values_strict=value_confusions(strict, scheme),
        values_overlap=value_confusions(overlap, scheme),
        links=link_counts(doc_a, doc_b),
        words=word_agreement(doc_a, doc_b, scheme),
        n_entities=(len(doc_a.entities), len(doc_b.entities)),
        n_links=(len(doc_a.links), len(doc_b.links)),
    )


def model_word_scores(pairs: Iterable[Tuple[MaeDocument, MaeDocument]], scheme: Scheme) -> Dict[str, float]:
    """B scored against A as the models are scored at word level (`fgen.scoring.word_scores`):
    the same `words_<head>_p/r/f` that scripts/evaluate.py and the benchmarks give a model.

    pairs (Iterable[Tuple[MaeDocument, MaeDocument]]): (A, B) annotations of the same texts.
    scheme (Scheme): the scheme both were read with (it gives the heads).
    RETURNS (Dict[str, float]): `words_<head>_p`, `_r` and `_f` per head, micro over all pairs.
    """
    nlp = make_nlp()
    examples = []
    for doc_a, doc_b in pairs:
        if doc_a.text != doc_b.text:
            raise ValueError("the two annotations have different texts, so their offsets cannot be compared")
        reference, predicted = (mae_to_doc(nlp, doc, scheme, {}).doc for doc in (doc_a, doc_b))
        examples.append(Example(predicted, reference))
    return score_words(examples, scheme)


@dataclass
class Pairing:
    """Files of two folders paired by PMID, and those left without a partner."""

    pairs: List[Tuple[str, Path, Path]]  # (pmid, file A, file B), by PMID
    only_a: List[Path]
    only_b: List[Path]


def _by_pmid(files: Iterable[Path]) -> Tuple[Dict[str, Path], List[Path]]:
    keyed: Dict[str, Path] = {}
    no_pmid = []
    for path in files:
        pmid = pmid_of(path)
        if pmid is None:
            no_pmid.append(path)
        elif pmid in keyed:
            raise ValueError(f"{path}: PMID {pmid} also in {keyed[pmid]}; cannot pair unambiguously")
        else:
            keyed[pmid] = path
    return keyed, no_pmid


def pair_by_pmid(files_a: Iterable[Path], files_b: Iterable[Path]) -> Pairing:
    """Pair files by the PMID in their names; files without one stay unpaired.

    RAISES (ValueError): when one side has two files with the same PMID.
    """
    keyed_a, rest_a = _by_pmid(files_a)
    keyed_b, rest_b = _by_pmid(files_b)
    pairs = [(pmid, keyed_a[pmid], keyed_b[pmid]) for pmid in sorted(keyed_a.keys() & keyed_b.keys(), key=int)]
    only_a = sorted(rest_a + [p for k, p in keyed_a.items() if k not in keyed_b])
    only_b = sorted(rest_b + [p for k, p in keyed_b.items() if k not in keyed_a])
    return Pairing(pairs, only_a, only_b)
