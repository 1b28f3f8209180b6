"""Candidate statements bounded by `limit` without building every combination: the same
candidates (and features) as the plain product for any layout, and bounded memory for a
sentence with many entities of every category (which used to need gigabytes)."""
import math
import random
import tracemalloc
from itertools import product

import pytest
import spacy
from spacy.tokens import Span

from fgen.pipeline.links.link_candidates import ROLES, candidate_tuples, candidate_width, tuple_features
from fgen.util.sentences import sentence_ids


def reference_candidates(entities, sent_ids, roles, max_sentences, max_width, limit):
    """The candidates as fgen built them before: the full product per sentence window, then the
    `limit` narrowest (stable by width), sorted."""
    by_sentence = {}
    for i, ent in enumerate(entities):
        if ent.label_ in roles:
            by_sentence.setdefault(sent_ids[ent.start], {}).setdefault(ent.label_, []).append(i)
    candidates = []
    for first in sorted(by_sentence):
        pools = [[i for s in range(first, first + max_sentences) for i in by_sentence.get(s, {}).get(role, [])] for role in roles]
        for combo in product(*pools):
            if min(sent_ids[entities[i].start] for i in combo) != first:
                continue
            if max_width > 0 and candidate_width(entities, combo) > max_width:
                continue
            candidates.append(tuple(combo))
    if limit <= 0 or len(candidates) <= limit:
        return candidates
    return sorted(sorted(candidates, key=lambda c: candidate_width(entities, c))[:limit])


def reference_features(entities, candidates, sent_ids, roles):
    """The feature rows as fgen computed them before (quadratic in the doc's entities)."""
    def gap(a, b):
        return max(0, b.start - a.end, a.start - b.end)

    nearest = {}
    for i, a in enumerate(entities):
        best = {}
        for j, b in enumerate(entities):
            if i == j or sent_ids[a.start] != sent_ids[b.start]:
                continue
            key = (gap(a, b), b.start)
            if b.label_ not in best or key < best[b.label_]:
                best[b.label_] = key
                nearest[(i, b.label_)] = j
    starts = sorted(e.start for e in entities)
    pairs = [(i, j) for i in range(len(roles)) for j in range(i + 1, len(roles))]
    rows = []
    for combo in candidates:
        members = [entities[i] for i in combo]
        row = []
        for i, j in pairs:
            a, b = members[i], members[j]
            lo, hi = min(a.end, b.end), max(a.start, b.start)
            between = sum(1 for s in starts if lo <= s < hi)
            row += [math.log1p(gap(a, b)) / 5.0, 1.0 if a.start < b.start else -1.0 if a.start > b.start else 0.0,
                    math.log1p(between) / 3.0, float(sent_ids[a.start] == sent_ids[b.start]),
                    float(nearest.get((combo[i], b.label_)) == combo[j]), float(nearest.get((combo[j], a.label_)) == combo[i])]
        first, last = min(m.start for m in members), max(m.end for m in members)
        row.append(math.log1p(last - first) / 5.0)
        for role, member in zip(roles, members):
            row.append(math.log1p(sum(1 for e in entities if e.label_ == role and e is not member and first <= e.start and e.end <= last)) / 3.0)
        row.append(float(sent_ids[last - 1] - sent_ids[first]))
        rows.append(row)
    return rows


def random_doc(nlp, rng: random.Random, n_tokens: int, n_entities: int):
    words = [rng.choice(["w", "x", "."]) if i else "w" for i in range(n_tokens)]
    doc = spacy.tokens.Doc(nlp.vocab, words=words)
    spans = []
    for _ in range(n_entities):
        start = rng.randrange(n_tokens)
        spans.append(Span(doc, start, min(n_tokens, start + rng.choice([1, 1, 2, 3])), label=rng.choice([*ROLES, "OTHER"])))
    spans.sort(key=lambda e: (e.start, e.end, e.label_))  # as FgenLinks.doc_candidates sorts them
    return doc, spans


def test_bounded_candidates_equal_the_full_product():
    nlp = spacy.blank("en")
    rng = random.Random(11)
    for trial in range(50):
        doc, ents = random_doc(nlp, rng, rng.randint(1, 40), rng.randint(0, 14))
        sent_ids = sentence_ids(doc)
        ms, mw, limit = rng.choice([1, 1, 2, 3]), rng.choice([0, 0, 4, 9]), rng.choice([0, 1, 2, 5, 13, 40, 2000])
        expected = reference_candidates(ents, sent_ids, ROLES, ms, mw, limit)
        got = candidate_tuples(ents, sent_ids, ROLES, ms, mw, limit=limit)
        assert got == expected, (trial, ms, mw, limit)
        assert tuple_features(ents, got, sent_ids) == reference_features(ents, got, sent_ids, ROLES)
    shuffled = list(ents)
    rng.shuffle(shuffled)  # any entity order, not only the component's
    assert candidate_tuples(shuffled, sent_ids, limit=3) == reference_candidates(shuffled, sent_ids, ROLES, 1, 0, 3)


def test_many_entities_in_one_sentence_stay_bounded():
    # 60 entities of each category in one sentence: 60 ** 4 = 13 million combinations
    nlp = spacy.blank("en")
    words = [w for n in range(60) for w in (f"PA{n}", f"CX{n}", f"EF{n}", f"PH{n}", "and")] + ["."]
    doc = spacy.tokens.Doc(nlp.vocab, words=words)
    ents = [Span(doc, i, i + 1, label=ROLES[i % 5]) for i in range(len(words) - 1) if i % 5 < 4]
    sent_ids = sentence_ids(doc)
    assert set(sent_ids) == {0}
    tracemalloc.start()
    try:
        cands = candidate_tuples(ents, sent_ids, limit=2000)
        features = tuple_features(ents, cands, sent_ids)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(cands) == len(set(cands)) == len(features) == 2000
    assert peak < 50 * 2**20  # the full product alone would take gigabytes
    widths = sorted(candidate_width(ents, c) for c in cands)
    assert widths[0] == 4 and widths[-1] <= 25  # the narrowest: neighbouring groups


@pytest.mark.parametrize("max_sentences", [1, 2])
def test_limit_zero_or_negative_keeps_everything(max_sentences):
    nlp = spacy.blank("en")
    doc, ents = random_doc(nlp, random.Random(3), 30, 14)
    sent_ids = sentence_ids(doc)
    full = reference_candidates(ents, sent_ids, ROLES, max_sentences, 0, 0)
    assert candidate_tuples(ents, sent_ids, max_sentences=max_sentences) == full
    assert candidate_tuples(ents, sent_ids, max_sentences=max_sentences, limit=-1) == full


def test_max_apart_bounds_members_in_text_order():
    nlp = spacy.blank("en")
    rng = random.Random(5)
    for trial in range(30):
        doc, ents = random_doc(nlp, rng, rng.randint(1, 40), rng.randint(0, 14))
        sent_ids = sentence_ids(doc)
        apart, limit = rng.choice([1, 3, 6]), rng.choice([0, 5, 40])
        order = {i: p for p, (_, i) in enumerate(sorted((e.start, i) for i, e in enumerate(ents) if e.label_ in ROLES))}
        full = reference_candidates(ents, sent_ids, ROLES, 1, 0, 0)
        within = [c for c in full if max(order[i] for i in c) - min(order[i] for i in c) <= apart]
        if limit and len(within) > limit:
            within = sorted(sorted(within, key=lambda c: candidate_width(ents, c))[:limit])
        assert candidate_tuples(ents, sent_ids, limit=limit, max_apart=apart) == within, trial


def test_thousands_of_entities_in_one_sentence_take_linear_time():
    import time

    nlp = spacy.blank("en")
    timings = []
    for n in (400, 1600):
        words = [w for k in range(n) for w in (f"PA{k}", f"CX{k}", f"EF{k}", f"PH{k}", "and")] + ["."]
        doc = spacy.tokens.Doc(nlp.vocab, words=words)
        ents = [Span(doc, i, i + 1, label=ROLES[i % 5]) for i in range(len(words) - 1) if i % 5 < 4]
        start = time.perf_counter()
        cands = candidate_tuples(ents, sentence_ids(doc), limit=2000, max_apart=64)
        tuple_features(ents, cands, sentence_ids(doc))
        timings.append(time.perf_counter() - start)
    assert timings[1] < 8 * timings[0] + 0.5, timings  # 4x the entities: quadratic would be 16x
