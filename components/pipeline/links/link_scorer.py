"""Scores for predicted statements (`doc._.links`) against gold ones.

Members are compared by character offsets and label, so predicted and gold docs may be
tokenised differently; both docs must have the same text. Four families of scores, all micro
(summed over docs), with set semantics per doc (a statement or pair listed twice counts once):

- `links_*`: exact statements. A statement is the set of its members' (start_char, end_char,
  label); tp = statements in both the prediction and the gold.
- `link_pairs_*`: unordered pairs of distinct members that share at least one statement.
- `links_partial_*`: a predicted statement is correct when some gold statement has the same
  span (start_char, end_char) for at least 3 of its roles (role = the statement's dict key).
  P = correct predicted / predicted, R = gold statements matched by some prediction / gold.
- `link_only_*`: the original project's number, over words (`scoring.split_words`). A word
  belongs to a statement when it overlaps one of its member spans. Evaluated words: those
  belonging to some gold statement. Each pair of evaluated words is gold-positive when the two
  words share a gold statement (two words of one linked entity do), predicted-positive when
  they share a predicted statement.

Only examples whose reference has link annotation count (`fgen.doc_layout.links_annotated`:
the provenance flag when there is one; hand-made docs without it count).
With nothing counted, P/R/F are 0.0, as in spaCy's PRFScore.
"""
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Sequence, Set, Tuple

import spacy
from spacy.scorer import PRFScore
from spacy.tokens import Span
from spacy.training import Example

from fgen.doc_layout import Link, get_links, links_annotated
from fgen.scoring.word_scores import split_words

MemberKey = Tuple[int, int, str]  # start_char, end_char, label
StatementKey = FrozenSet[MemberKey]
RoleSpans = FrozenSet[Tuple[str, int, int]]  # role, start_char, end_char
PARTIAL_MIN_ROLES = 3


@dataclass
class LinkCounts:
    """tp/fp/fn per score family. Partial matching has two counters: `partial_pred` counts
    predicted statements (tp = correct, fp = not), `partial_gold` gold ones (tp = matched,
    fn = not), because its precision and recall count different things."""

    exact: PRFScore = field(default_factory=PRFScore)
    pairs: PRFScore = field(default_factory=PRFScore)
    partial_pred: PRFScore = field(default_factory=PRFScore)
    partial_gold: PRFScore = field(default_factory=PRFScore)
    link_only: PRFScore = field(default_factory=PRFScore)


def member_key(span: Span) -> MemberKey:
    """A link member's identity, independent of tokenisation."""
    return (span.start_char, span.end_char, span.label_)


def statement_key(link: Link) -> StatementKey:
    """A statement's identity: the set of its members' (start_char, end_char, label)."""
    return frozenset(member_key(span) for span in link.values())


def statement_pairs(link: Link) -> Set[FrozenSet[MemberKey]]:
    """The unordered pairs of distinct members of one statement."""
    members = {member_key(span) for span in link.values()}
    return {frozenset(pair) for pair in combinations(sorted(members), 2)}


def _doc_pairs(links: Sequence[Link]) -> Set[FrozenSet[MemberKey]]:
    return set().union(*(statement_pairs(link) for link in links))


def role_spans(link: Link) -> RoleSpans:
    """A statement as (role, start_char, end_char) per member, for partial matching."""
    return frozenset((role, span.start_char, span.end_char) for role, span in link.items())


def partial_match(a: RoleSpans, b: RoleSpans, min_roles: int = PARTIAL_MIN_ROLES) -> bool:
    """Whether two statements have the same span for at least `min_roles` roles."""
    return len(a & b) >= min_roles


def _count_partial(counts: LinkCounts, pred: Set[RoleSpans], gold: Set[RoleSpans]) -> None:
    correct = sum(any(partial_match(p, g) for g in gold) for p in pred)
    matched = sum(any(partial_match(p, g) for p in pred) for g in gold)
    counts.partial_pred.tp += correct
    counts.partial_pred.fp += len(pred) - correct
    counts.partial_gold.tp += matched
    counts.partial_gold.fn += len(gold) - matched


def word_statements(text: str, links: Sequence[Link]) -> List[Set[int]]:
    """For each word of `text` (`split_words`), the indices of the statements it belongs to:
    those with a member span overlapping the word by at least one character."""
    words = split_words(text)
    starts = [w[0] for w in words]
    ends = [w[1] for w in words]  # sorted too: words do not overlap
    result: List[Set[int]] = [set() for _ in words]
    for i, link in enumerate(links):
        for span in link.values():
            # words with end > start_char and start < end_char
            for w in range(bisect_right(ends, span.start_char), bisect_left(starts, span.end_char)):
                result[w].add(i)
    return result


def _count_link_only(prf: PRFScore, text: str, pred: Sequence[Link], gold: Sequence[Link]) -> None:
    gold_words = word_statements(text, gold)
    pred_words = word_statements(text, pred)
    evaluated = [i for i, links in enumerate(gold_words) if links]
    for a, b in combinations(evaluated, 2):
        is_gold = not gold_words[a].isdisjoint(gold_words[b])
        is_pred = not pred_words[a].isdisjoint(pred_words[b])
        if is_gold and is_pred:
            prf.tp += 1
        elif is_pred:
            prf.fp += 1
        elif is_gold:
            prf.fn += 1


def link_counts(examples: Iterable[Example]) -> LinkCounts:
    """tp/fp/fn of every score family over the examples whose reference has link annotation.

    examples (Iterable[Example]): predicted and gold docs of the same texts, with `doc._.links`.
    RETURNS (LinkCounts): the counts, summed over the examples.
    """
    counts = LinkCounts()
    for eg in examples:
        gold_doc, pred_doc = eg.reference, eg.predicted
        if not links_annotated(gold_doc):
            continue
        if gold_doc.text != pred_doc.text:
            raise ValueError("link scores need the predicted and the gold doc to have the same text")
        gold, pred = get_links(gold_doc), get_links(pred_doc)
        counts.exact.score_set({statement_key(l) for l in pred}, {statement_key(l) for l in gold})
        counts.pairs.score_set(_doc_pairs(pred), _doc_pairs(gold))
        _count_partial(counts, {role_spans(l) for l in pred}, {role_spans(l) for l in gold})
        _count_link_only(counts.link_only, gold_doc.text, pred, gold)
    return counts


def _fscore(p: float, r: float) -> float:
    # Partial P and R count different things, so no single PRFScore gives their harmonic mean.
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def score_links(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
    """Exact, pair, partial and word-pair ("link only") P/R/F of the predicted statements.

    examples (Iterable[Example]): predicted and gold docs of the same texts, with `doc._.links`.
    RETURNS (Dict[str, Any]): `links_p/r/f`, `link_pairs_p/r/f`, `links_partial_p/r/f` and
        `link_only_p/r/f` (floats; 0.0 when nothing was counted).
    """
    counts = link_counts(examples)
    scores: Dict[str, Any] = {}
    for name, prf in (("links", counts.exact), ("link_pairs", counts.pairs)):
        scores.update({f"{name}_p": prf.precision, f"{name}_r": prf.recall, f"{name}_f": prf.fscore})
    p, r = counts.partial_pred.precision, counts.partial_gold.recall
    scores.update({"links_partial_p": p, "links_partial_r": r, "links_partial_f": _fscore(p, r)})
    prf = counts.link_only
    scores.update({"link_only_p": prf.precision, "link_only_r": prf.recall, "link_only_f": prf.fscore})
    return scores


@spacy.registry.scorers("fgen.links_scorer.v1")
def make_links_scorer() -> Callable[..., Dict[str, Any]]:
    """The link scorer: exact, pair, partial and word-pair P/R/F of `doc._.links`."""
    return score_links


__all__ = [
    "score_links",
    "link_counts",
    "make_links_scorer",
    "LinkCounts",
    "member_key",
    "statement_key",
    "statement_pairs",
    "role_spans",
    "partial_match",
    "word_statements",
]
