"""Candidate statements for entity linking: which 4-way tuples the link model scores.

A V2 statement (ENTITY_LINKING) joins one entity of each role category. 303 of the 309
statements of the corpus lie inside one sentence (the 6 others span two), so the candidate
rule is: every combination of one entity per role whose members lie within `max_sentences`
consecutive sentences (default 1) and, optionally, within `max_width` tokens from the first
member's start to the last member's end. Sentences come from `doc.sents` when the doc has
sentence boundaries (a parser, senter or sentencizer ran), else from spaCy's rule-based
Sentencizer applied on the fly (the doc is not modified), so training and prediction see the
same boundaries whatever ran before.
"""
import math
from itertools import product
from typing import Dict, List, Sequence, Tuple

from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span

# The link roles of the V2 scheme, in the order the link model reads them.
ROLES = ("PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE")

Candidate = Tuple[int, ...]  # one entity index per role, into the entity list

_SENTENCIZER = Sentencizer()


def sentence_ids(doc: Doc) -> List[int]:
    """The sentence number of every token of `doc` (0-based)."""
    if len(doc) == 0:
        return []
    if doc.has_annotation("SENT_START"):
        starts = [tok.is_sent_start for tok in doc]
    else:
        starts = list(_SENTENCIZER.predict([doc])[0])
    ids, current = [], 0
    for i, start in enumerate(starts):
        if start and i > 0:
            current += 1
        ids.append(current)
    return ids


def candidate_tuples(
    entities: Sequence[Span],
    sent_ids: Sequence[int],
    roles: Sequence[str] = ROLES,
    max_sentences: int = 1,
    max_width: int = 0,
) -> List[Candidate]:
    """All candidate statements over `entities`, as tuples of entity indices in `roles` order.

    entities (Sequence[Span]): the doc's entities (gold or predicted); labels are categories.
    sent_ids (Sequence[int]): sentence number per token, from `sentence_ids`.
    roles (Sequence[str]): one category per statement role.
    max_sentences (int): members must lie within this many consecutive sentences (>= 1).
    max_width (int): if > 0, at most this many tokens from the first member's start to the
        last member's end.
    RETURNS (List[Tuple[int, ...]]): unique candidates, ordered by window and then by roles.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, not {max_sentences}")
    by_sentence: Dict[int, Dict[str, List[int]]] = {}
    for i, ent in enumerate(entities):
        if ent.label_ in roles:
            by_sentence.setdefault(sent_ids[ent.start], {}).setdefault(ent.label_, []).append(i)
    candidates: List[Candidate] = []
    for first in sorted(by_sentence):
        window = range(first, first + max_sentences)
        pools = [[i for s in window for i in by_sentence.get(s, {}).get(role, [])] for role in roles]
        for combo in product(*pools):
            # Each candidate once: from the window starting at its earliest sentence.
            if min(sent_ids[entities[i].start] for i in combo) != first:
                continue
            if max_width > 0 and candidate_width(entities, combo) > max_width:
                continue
            candidates.append(tuple(combo))
    return candidates


def candidate_width(entities: Sequence[Span], candidate: Candidate) -> int:
    """Tokens from the first member's start to the last member's end."""
    return max(entities[i].end for i in candidate) - min(entities[i].start for i in candidate)


def narrowest_candidates(entities: Sequence[Span], candidates: Sequence[Candidate], limit: int) -> List[Candidate]:
    """At most `limit` candidates: the narrowest (by `candidate_width`), the widest dropped.

    entities (Sequence[Span]): the entities the candidates index into.
    candidates (Sequence[Tuple[int, ...]]): from `candidate_tuples`.
    limit (int): how many to keep; 0 or less keeps all.
    RETURNS (List[Tuple[int, ...]]): all candidates, unchanged, when within the limit; else the
        `limit` narrowest (among equally wide ones the earlier in `candidates` win) sorted by
        entity indices.
    """
    if limit <= 0 or len(candidates) <= limit:
        return list(candidates)
    by_width = sorted(candidates, key=lambda c: candidate_width(entities, c))  # stable: ties keep order
    return sorted(by_width[:limit])


# What the link model sees about a candidate besides the entities' vectors. Per role pair
# (i, j) in ROLE_PAIRS order: token gap, order, entities in between, same sentence, whether j
# is the entity of its category nearest to i and vice versa (the "nearest entity" heuristic,
# as evidence rather than a rule). Per tuple: width, other entities of each role inside the
# tuple's extent, sentences spanned.
N_PAIR_FEATURES = 6


def role_pairs(n_roles: int) -> List[Tuple[int, int]]:
    """The unordered role pairs (i < j) of an n-role statement, in the model's order."""
    return [(i, j) for i in range(n_roles) for j in range(i + 1, n_roles)]


def n_tuple_features(n_roles: int) -> int:
    """Width of the feature row of one candidate (see `tuple_features`)."""
    return len(role_pairs(n_roles)) * N_PAIR_FEATURES + n_roles + 2


def _gap(a: Span, b: Span) -> int:
    return max(0, b.start - a.end, a.start - b.end)


def _nearest(entities: Sequence[Span], sent_ids: Sequence[int]) -> Dict[Tuple[int, str], int]:
    """(entity index, category) -> index of the nearest entity of that category in the same
    sentence (by token gap; ties: the earlier one)."""
    nearest: Dict[Tuple[int, str], int] = {}
    for i, a in enumerate(entities):
        best: Dict[str, Tuple[int, int]] = {}
        for j, b in enumerate(entities):
            if i == j or sent_ids[a.start] != sent_ids[b.start]:
                continue
            key = (_gap(a, b), b.start)
            if b.label_ not in best or key < best[b.label_]:
                best[b.label_] = key
                nearest[(i, b.label_)] = j
    return nearest


def tuple_features(
    entities: Sequence[Span], candidates: Sequence[Candidate], sent_ids: Sequence[int], roles: Sequence[str] = ROLES
) -> List[List[float]]:
    """One feature row (`n_tuple_features(len(roles))` floats, roughly in [-1, 1]) per candidate.

    entities (Sequence[Span]): the entities the candidates index into.
    candidates (Sequence[Tuple[int, ...]]): from `candidate_tuples`.
    sent_ids (Sequence[int]): sentence number per token.
    roles (Sequence[str]): the role categories, in candidate order.
    RETURNS (List[List[float]]): the rows, in candidate order.
    """
    nearest = _nearest(entities, sent_ids)
    starts = sorted(e.start for e in entities)
    pairs = role_pairs(len(roles))
    rows = []
    for combo in candidates:
        members = [entities[i] for i in combo]
        row: List[float] = []
        for i, j in pairs:
            a, b = members[i], members[j]
            lo, hi = min(a.end, b.end), max(a.start, b.start)
            between = sum(1 for s in starts if lo <= s < hi)
            row += [
                math.log1p(_gap(a, b)) / 5.0,
                1.0 if a.start < b.start else -1.0 if a.start > b.start else 0.0,
                math.log1p(between) / 3.0,
                float(sent_ids[a.start] == sent_ids[b.start]),
                float(nearest.get((combo[i], b.label_)) == combo[j]),
                float(nearest.get((combo[j], a.label_)) == combo[i]),
            ]
        first, last = min(m.start for m in members), max(m.end for m in members)
        row.append(math.log1p(last - first) / 5.0)
        for role, member in zip(roles, members):
            others = sum(1 for e in entities if e.label_ == role and e is not member and first <= e.start and e.end <= last)
            row.append(math.log1p(others) / 3.0)
        row.append(float(sent_ids[last - 1] - sent_ids[first]))
        rows.append(row)
    return rows
