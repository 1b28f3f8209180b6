"""Candidate statements for entity linking: which 4-way tuples the link model scores.

A V2 statement (ENTITY_LINKING) joins one entity of each role category. 303 of the 309
statements of the corpus lie inside one sentence (the 6 others span two), so the candidate
rule is: every combination of one entity per role whose members lie within `max_sentences`
consecutive sentences (default 1) and, optionally, within `max_width` tokens from the first
member's start to the last member's end. Sentences come from `fgen.util.sentences.sentence_ids`
(`doc.sents` if set, else spaCy's rule-based Sentencizer), so training and prediction see the
same boundaries whatever ran before.
"""
import bisect
import heapq
import math
from itertools import product
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

from spacy.tokens import Span

# The link roles of the V2 scheme, in the order the link model reads them.
ROLES = ("PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE")

Candidate = Tuple[int, ...]  # one entity index per role, into the entity list
# fgen_links' default `max_apart`: a candidate's members within this many role entities, far
# more than a sentence of an abstract holds; bounds the work per entity of pathological text.
MAX_APART = 64

def _anchored_pools(
    entities: Sequence[Span], sent_ids: Sequence[int], roles: Sequence[str], max_sentences: int, max_apart: int = 0
) -> List[Tuple[int, int, List[List[Tuple[int, int]]]]]:
    """Every candidate has one anchor: its member with the smallest (start, index). Per role
    entity x, as (x, its role, per role the (reach, index) of the entities that can join a
    candidate anchored at x), reach sorted, where reach = the width such a candidate has at
    least (from x's start to the entity's end). With `max_apart` > 0 only the next `max_apart`
    role entities after x can join, so the pools take linear memory in the entities."""
    role_of = {role: k for k, role in enumerate(roles)}
    members = sorted((ent.start, i) for i, ent in enumerate(entities) if ent.label_ in role_of)
    anchored = []
    for p, (start, x) in enumerate(members):
        last_sentence = sent_ids[start] + max_sentences - 1
        pools: List[List[Tuple[int, int]]] = [[] for _ in roles]
        last = min(len(members), p + 1 + max_apart) if max_apart > 0 else len(members)
        for q in range(p + 1, last):
            y = members[q][1]
            if sent_ids[entities[y].start] > last_sentence:
                break  # members are in text order, so are their sentences
            pools[role_of[entities[y].label_]].append((entities[y].end - start, y))
        for pool in pools:
            pool.sort()
        anchored.append((x, role_of[entities[x].label_], pools))
    return anchored


def _count_within(entities: Sequence[Span], anchored, width: int) -> int:
    """How many candidates are at most `width` tokens wide (see `_anchored_pools`)."""
    total = 0
    for x, role, pools in anchored:
        if entities[x].end - entities[x].start > width:
            continue
        count = 1
        for k, pool in enumerate(pools):
            if k != role:
                count *= bisect.bisect_right(pool, (width, len(entities)))
                if not count:
                    break
        total += count
    return total


def _within(entities: Sequence[Span], anchored, width: int) -> Iterator[Candidate]:
    """The candidates at most `width` tokens wide, without building any other combination."""
    for x, role, pools in anchored:
        if entities[x].end - entities[x].start > width:
            continue
        choices = [[x] if k == role else [i for _, i in pool[: bisect.bisect_right(pool, (width, len(entities)))]] for k, pool in enumerate(pools)]
        yield from product(*choices)


def _generation_order(entities: Sequence[Span], sent_ids: Sequence[int]) -> Callable[[Candidate], Tuple]:
    # candidate_tuples' order: by the first sentence, then by (sentence, index) of each member
    def key(candidate: Candidate) -> Tuple:
        sentences = [sent_ids[entities[i].start] for i in candidate]
        return (min(sentences), tuple(zip(sentences, candidate)))

    return key


def candidate_tuples(
    entities: Sequence[Span],
    sent_ids: Sequence[int],
    roles: Sequence[str] = ROLES,
    max_sentences: int = 1,
    max_width: int = 0,
    limit: int = 0,
    max_apart: int = 0,
) -> List[Candidate]:
    """The candidate statements over `entities`, as tuples of entity indices in `roles` order:
    all of them, or, beyond `limit`, the `limit` narrowest (by `candidate_width`). Only the
    candidates kept are ever built, so time and memory stay bounded by `limit` even for a
    sentence with hundreds of entities.

    entities (Sequence[Span]): the doc's entities (gold or predicted); labels are categories.
    sent_ids (Sequence[int]): sentence number per token, from `sentence_ids`.
    roles (Sequence[str]): one category per statement role (all different).
    max_sentences (int): members must lie within this many consecutive sentences (>= 1).
    max_width (int): if > 0, at most this many tokens from the first member's start to the
        last member's end.
    limit (int): if > 0, at most this many candidates.
    max_apart (int): if > 0, a candidate's last member is at most this many role entities
        after its first (in text order): bounds the work per entity in a sentence with very
        many entities, where the full search would be quadratic.
    RETURNS (List[Tuple[int, ...]]): unique candidates. All of them: ordered by window (first
        sentence) and then by roles. Beyond `limit`: the narrowest, among equally wide ones the
        earlier in that order, sorted by entity indices.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, not {max_sentences}")
    anchored = _anchored_pools(entities, sent_ids, roles, max_sentences, max_apart)
    widest = max_width if max_width > 0 else max((e.end for e in entities), default=0)
    order = _generation_order(entities, sent_ids)
    if limit <= 0 or _count_within(entities, anchored, widest) <= limit:
        return sorted(_within(entities, anchored, widest), key=order)
    low, high = 0, widest  # the smallest width that admits at least `limit` candidates
    while low < high:
        middle = (low + high) // 2
        if _count_within(entities, anchored, middle) >= limit:
            high = middle
        else:
            low = middle + 1
    narrower = [c for c in _within(entities, anchored, low - 1)] if low > 0 else []
    at_limit = (c for c in _within(entities, anchored, low) if candidate_width(entities, c) == low)
    return sorted(narrower + heapq.nsmallest(limit - len(narrower), at_limit, key=order))


def candidate_width(entities: Sequence[Span], candidate: Candidate) -> int:
    """Tokens from the first member's start to the last member's end."""
    return max(entities[i].end for i in candidate) - min(entities[i].start for i in candidate)


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


class _Nearest:
    """(entity index, category) -> index of the nearest entity of that category in the same
    sentence (by token gap; ties: the earlier start, then the lower index), computed when first
    asked by scanning outward from the entity through that category's entities by start, so a
    query looks at neighbours, not at the whole sentence."""

    def __init__(self, entities: Sequence[Span], sent_ids: Sequence[int]):
        self.entities = entities
        self.sentence_of = [sent_ids[e.start] for e in entities]
        groups: Dict[Tuple[int, str], List[Tuple[int, int]]] = {}
        for j, e in enumerate(entities):
            groups.setdefault((self.sentence_of[j], e.label_), []).append((e.start, j))
        self.groups = {key: sorted(group) for key, group in groups.items()}
        self.longest = {key: max(entities[j].end - entities[j].start for _, j in group) for key, group in self.groups.items()}
        self.cache: Dict[Tuple[int, str], int] = {}

    def get(self, i: int, label: str) -> int:
        if (i, label) not in self.cache:
            self.cache[(i, label)] = self._find(i, label)
        return self.cache[(i, label)]

    def _find(self, i: int, label: str) -> int:
        key = (self.sentence_of[i], label)
        group = self.groups.get(key, [])
        a, best = self.entities[i], None
        split = bisect.bisect_left(group, (a.end, -1))  # group[split:] start at or after a's end
        for start, j in group[split:]:  # the first of them is the nearest after a; ties share its start
            if best is not None and start > best[1]:
                break
            if j != i:
                best = min(best or (math.inf,), (_gap(a, self.entities[j]), start, j))
        for start, j in reversed(group[:split]):  # overlapping a, or before it
            if best is not None and start + self.longest[key] < a.start - best[0]:
                break  # ends before a by more than the best gap
            if j != i:
                best = min(best or (math.inf,), (_gap(a, self.entities[j]), start, j))
        return best[2] if best is not None else -1


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
    nearest = _Nearest(entities, sent_ids)
    starts = sorted(e.start for e in entities)
    # per role, its entities by start: the ones inside a tuple's extent are found by bisection
    by_role = {role: sorted((e.start, i) for i, e in enumerate(entities) if e.label_ == role) for role in roles}
    pairs = role_pairs(len(roles))
    rows = []
    for combo in candidates:
        members = [entities[i] for i in combo]
        row: List[float] = []
        for i, j in pairs:
            a, b = members[i], members[j]
            lo, hi = min(a.end, b.end), max(a.start, b.start)
            between = max(0, bisect.bisect_left(starts, hi) - bisect.bisect_left(starts, lo))
            row += [
                math.log1p(_gap(a, b)) / 5.0,
                1.0 if a.start < b.start else -1.0 if a.start > b.start else 0.0,
                math.log1p(between) / 3.0,
                float(sent_ids[a.start] == sent_ids[b.start]),
                float(nearest.get(combo[i], b.label_) == combo[j]),
                float(nearest.get(combo[j], a.label_) == combo[i]),
            ]
        first, last = min(m.start for m in members), max(m.end for m in members)
        row.append(math.log1p(last - first) / 5.0)
        for role, index in zip(roles, combo):
            pool = by_role[role]
            inside = pool[bisect.bisect_left(pool, (first, -1)) : bisect.bisect_left(pool, (last, -1))]
            others = sum(1 for _, k in inside if k != index and entities[k].end <= last)
            row.append(math.log1p(others) / 3.0)
        row.append(float(sent_ids[last - 1] - sent_ids[first]))
        rows.append(row)
    return rows
