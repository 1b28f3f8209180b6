"""Every record bounded (fgen.annotate.bounds): pathological texts annotated by a tiny pipeline
with fgen's own components (tagger + CRF, many entities from a ruler, fgen_links) in a child
process, whose time and peak RSS must grow linearly with the text; the record limit; long
records never batched with short ones; bounded tokenization keeps offsets and tokens."""
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

import fgen  # noqa: F401  registers the Doc extensions
from fgen.annotate.bounds import LIMIT_ENV, MAX_RECORD_TOKENS, TOKEN_LIMIT_ENV, annotated_alone, pipe_by_length, record_limit, token_limit
from fgen.annotate.inputs import Problem, Record, within_max_length
from fgen.corpus.tokenizer import _cut_points, make_doc_bounded, make_nlp
from fgen.doc_layout import set_links
from fgen.pipeline.links.link_candidates import ROLES
from fgen.pipeline.ner.crf import CRF, make_tags

from ..conftest import REPO, tiny_tok2vec

SENTENCE = "Knockdown of ATG12 in UM cells inhibits tumorigenesis and "  # no full stop: one long sentence
ABSTRACT = "Knockdown of ATG12 in UM cells inhibits tumorigenesis. Overexpression of ZNNT1 promotes autophagy."
PIECES = {"Knockdown of ATG12": ROLES[0], "UM cells": ROLES[1], "inhibits": ROLES[2], "tumorigenesis": ROLES[3]}


def build_pipeline() -> Language:
    """fgen_ner (CRF) on a tiny CNN, then an entity ruler marking every role word (so a long
    sentence has thousands of entities), then fgen_links, initialized on one abstract."""
    spacy.util.fix_random_seed(0)
    nlp = make_nlp()
    nlp.add_pipe("fgen_ner", config={"model": {"@architectures": "fgen.ner_tagger.v1", "hidden_width": 16, "tok2vec": tiny_tok2vec()}})
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    # token patterns: phrase patterns would run the untrained tagger before it is initialized
    ruler.add_patterns([{"label": label, "pattern": [{"ORTH": w} for w in piece.split()]} for piece, label in PIECES.items()])
    link_model = {"@architectures": "fgen.link_model.v1", "hidden_width": 16, "entity_width": 8, "dropout": 0.0,
                  "entity_dropout": 0.0, "n_roles": 4, "tok2vec": tiny_tok2vec()}
    nlp.add_pipe("fgen_links", config={"model": link_model, "spans_key": "ruler_only"})
    doc = nlp.make_doc(ABSTRACT)
    spans = [doc.char_span(ABSTRACT.index(p), ABSTRACT.index(p) + len(p), label=label) for p, label in PIECES.items()]
    doc.ents = spans
    set_links(doc, [{s.label_: s for s in spans}])
    doc._.provenance = {"links_annotated": True}
    nlp.initialize(lambda: [Example(nlp.make_doc(ABSTRACT), doc)])
    return nlp


@pytest.fixture(scope="module")
def bounded_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bounded") / "pipeline"
    build_pipeline().to_disk(path)
    return path


CHILD = """
import json, resource, sys, time
from pathlib import Path
import spacy
import fgen
from fgen.annotate.run_loop import annotate
nlp = spacy.load(sys.argv[1])
nlp(sys.argv[3])  # warm up: what follows is the cost of each input
results = {}
for source in json.loads(sys.argv[2]):  # one after another: peak RSS only grows
    start = time.perf_counter()
    summary = annotate(nlp, source, source + ".out.jsonl", batch_size=8)
    results[Path(source).stem] = {"seconds": time.perf_counter() - start, "annotated": summary.annotated, "skipped": summary.skipped,
                                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print(json.dumps(results))
"""


def annotate_in_child(model: Path, tmp_path: Path, inputs: Dict[str, List[str]], limit: int = 1_000_000, timeout: float = 120) -> Dict:
    """Annotate each list of texts (a JSONL input each, in order) in one child process: per
    input its seconds (model loaded and warm) and the peak RSS so far."""
    sources = []
    for name, texts in inputs.items():
        sources.append(str(tmp_path / f"{name}.jsonl"))
        Path(sources[-1]).write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf8")
    env = {**os.environ, LIMIT_ENV: str(limit), TOKEN_LIMIT_ENV: str(limit), "OMP_NUM_THREADS": "1"}  # costs of what the limits let through
    result = subprocess.run([sys.executable, "-c", CHILD, str(model), json.dumps(sources), ABSTRACT],
                            capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_linear(small: Dict, large: Dict, base: Dict, factor: int) -> None:
    # `factor` times the text: quadratic cost would be factor**2 times the time and memory
    assert large["seconds"] <= 1.5 * factor * small["seconds"] + 0.5, (small, large)
    assert large["rss_mb"] - base["rss_mb"] <= 1.5 * factor * max(small["rss_mb"] - base["rss_mb"], 20.0), (base, small, large)


def test_pathological_records_grow_linearly(bounded_model, tmp_path):
    """Text n and 4n long, in a batch with an abstract: one sentence with many entities, a run
    of "(" (spaCy's tokenizer alone is quadratic on it); and a record over the limit skipped."""
    inputs = {"base": [ABSTRACT]}
    for name, unit, n in (("sentence", SENTENCE, 40), ("parens", "(", 1_500)):
        inputs.update({f"{name}-small": [unit * n, ABSTRACT], f"{name}-large": [unit * (4 * n), ABSTRACT]})
    inputs["over-limit"] = [ABSTRACT, "x " * 15_000, ABSTRACT]
    got = annotate_in_child(bounded_model, tmp_path, inputs, limit=20_000)
    assert got["over-limit"]["annotated"] == 2 and got["over-limit"]["skipped"] == 1
    for name in ("sentence", "parens"):
        small, large = got[f"{name}-small"], got[f"{name}-large"]
        assert small["annotated"] == large["annotated"] == 2
        assert_linear(small, large, got["base"], 4)


@pytest.mark.slow
def test_full_size_pathological_records(bounded_model, tmp_path):
    """The issue's texts at full size: 300 KB of one sentence with many entities, a 999,000
    character record batched with two abstracts, 100 KB of "(", a long record among short ones."""
    inputs = {
        "base": [ABSTRACT],
        "parentheses-100k": ["(" * 100_000],
        "sentence-300k": [(SENTENCE * (300_000 // len(SENTENCE) + 1))[:300_000]],
        "long-among-short": [ABSTRACT] * 8 + [(SENTENCE * 6_000)[:300_000]] + [ABSTRACT] * 8,
        "record-999k": [ABSTRACT, ("Knockdown of ATG12 inhibits tumorigenesis. " * 30_000)[:999_000], ABSTRACT],
    }
    got = annotate_in_child(bounded_model, tmp_path, inputs, timeout=1200)
    for name, texts in inputs.items():
        assert got[name]["annotated"] == len(texts), (name, got[name])
        megabytes = sum(len(t) for t in texts) / 1e6
        assert got[name]["rss_mb"] - got["base"]["rss_mb"] < 2048 * max(megabytes, 0.1), (name, got)
        assert got[name]["seconds"] < 600 * max(megabytes, 0.1), (name, got)  # 60 s per 100 KB


def test_record_limit_skips_with_reason(monkeypatch):
    record = Record("r1", "x" * 50, "in.jsonl:1")
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    assert within_max_length(record, 1_000_000) is record
    assert record_limit(1_000_000) == 100_000 and record_limit(40) == 40
    monkeypatch.setenv(LIMIT_ENV, "49")
    problem = within_max_length(record, 1_000_000)
    assert isinstance(problem, Problem) and "50 characters" in problem.reason and "49" in problem.reason and LIMIT_ENV in problem.reason
    monkeypatch.setenv(LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=LIMIT_ENV):
        record_limit()


def test_long_records_are_annotated_alone_in_input_order():
    nlp = make_nlp()
    texts = ["a b", "c " * 30, "d", "e", "(" * 600, "f", "g " * 30, "h"]
    calls: List[Tuple[bool, List[int]]] = []

    def run(stream, alone):
        items = list(stream)
        calls.append((alone, [i for _, i in items]))
        for text, i in items:
            assert isinstance(text, Doc) == alone
            yield i

    out = list(pipe_by_length(nlp, ((t, i) for i, t in enumerate(texts)), run, long_chars=40))
    assert out == list(range(len(texts)))
    assert calls == [(False, [0]), (True, [1]), (False, [2, 3]), (True, [4]), (False, [5]), (True, [6]), (False, [7])]
    assert annotated_alone("(" * 501) and not annotated_alone("(" * 500)


def test_bounded_tokenization_keeps_offsets_and_tokens():
    nlp = make_nlp()
    rng = random.Random(1)
    words = ["Knockdown", "of", "(DEN)-induced", "cells.", "  ", "\n", "and/or", "x" * 60, "((", "U.S.", "don't", "\t", "MCF-10A."]
    for _ in range(200):
        text = "".join(rng.choice(words) + rng.choice([" ", " ", "  ", "", "\n"]) for _ in range(rng.randint(1, 50)))
        points = [0, *_cut_points(text, 10**6, rng.choice([1, 7, 30])), len(text)]
        doc = Doc.from_docs([nlp.make_doc(text[a:b]) for a, b in zip(points, points[1:]) if b > a], ensure_whitespace=False)
        expected = nlp.make_doc(text)
        assert [(t.idx, t.text, t.whitespace_) for t in doc] == [(t.idx, t.text, t.whitespace_) for t in expected]
    text = "Knockdown (" + "(" * 3_000 + " of ATG12 " + "[x]" * 400
    doc = make_doc_bounded(nlp, text)
    assert doc.text == text and all(len(t) <= 500 for t in doc)
    words = [t.text for t in doc]
    assert words[0] == "Knockdown" and words[words.index("of") + 1] == "ATG12"  # ordinary text tokenized as usual
    start = time.perf_counter()
    assert make_doc_bounded(nlp, "(" * 40_000).text == "(" * 40_000
    assert time.perf_counter() - start < 5  # the plain tokenizer takes minutes


def test_crf_marginals_match_autograd_and_stay_small():
    tags = make_tags(list(ROLES))
    crf = CRF(len(tags))
    crf.set_constraints(tags)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in (crf.transitions, crf.start, crf.end):
            p.normal_()
    emissions = torch.randn(4, 30, len(tags)) * 3
    lengths = torch.tensor([30, 0, 1, 17])
    mask = torch.arange(30).unsqueeze(0) < lengths.unsqueeze(1)
    with torch.enable_grad():
        leaf = emissions.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(crf.log_partition(leaf, mask).sum(), leaf)
    got = crf.marginals(emissions, mask)
    assert torch.allclose(got, expected.clamp(0, 1) * mask.unsqueeze(-1), atol=1e-4)
    assert torch.allclose(got.sum(-1), mask.float(), atol=1e-4)


TOKENS_ENV_CASES = [  # (--max-chars, --max-tokens, environment): the ids annotated, the reasons of the others
    (None, None, {}, ["ok", "chars", "parens"], []),
    (60, None, {}, ["ok", "parens"], ["chars: text of 80 characters is longer than the limit of 60"]),
    (None, 50, {LIMIT_ENV: "70"}, ["ok"], ["chars: text of 80 characters is longer than the limit of 70",
                                          "parens: text of 55 tokens is more than the limit of 50"]),
    (100, None, {LIMIT_ENV: "70", TOKEN_LIMIT_ENV: "54"}, ["ok", "chars"], ["parens: text of 55 tokens is more than the limit of 54"]),
]


@pytest.mark.parametrize("max_chars, max_tokens, env, annotated, reasons", TOKENS_ENV_CASES)
def test_character_and_token_limits_as_options_over_the_environment(tmp_path, monkeypatch, max_chars, max_tokens, env, annotated, reasons):
    from fgen.annotate.run_loop import annotate
    from tests.annotate.test_annotate import build_nlp, read_output, write_jsonl_input

    for name in (LIMIT_ENV, TOKEN_LIMIT_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    nlp = build_nlp()
    seen: List[str] = []
    nlp.add_pipe("bounds_test_records_texts", first=True)
    nlp.get_pipe("bounds_test_records_texts").seen = seen
    rows = [{"id": "ok", "text": ABSTRACT[:50]}, {"id": "chars", "text": "x " * 40}, {"id": "parens", "text": "(" * 55}]
    source = write_jsonl_input(tmp_path / "in.jsonl", rows)
    problems: List[Problem] = []
    annotate(nlp, source, tmp_path / "out.jsonl", max_chars=max_chars, max_tokens=max_tokens, on_problem=problems.append)
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == annotated
    lines = {r["id"]: n for n, r in enumerate(rows, 1)}
    expected = [f"{source}:{lines[name]}: {reason}" for name, reason in (r.split(": ", 1) for r in reasons)]
    assert [str(p)[: len(e)] for p, e in zip(problems, expected)] == expected and len(problems) == len(expected)
    assert sorted(seen) == sorted(r["text"] for r in rows if r["id"] in annotated)  # the others never reached the pipeline


class TextsSeen:
    """A component that records the text of every doc it sees in `seen`."""

    def __init__(self) -> None:
        self.seen: List[str] = []

    def __call__(self, doc: Doc) -> Doc:
        self.seen.append(doc.text)
        return doc


@Language.factory("bounds_test_records_texts")
def make_texts_seen(nlp: Language, name: str) -> TextsSeen:
    return TextsSeen()


def test_token_limit_default_and_bad_values(monkeypatch):
    monkeypatch.delenv(TOKEN_LIMIT_ENV, raising=False)
    assert token_limit() == MAX_RECORD_TOKENS and token_limit(12) == 12
    monkeypatch.setenv(TOKEN_LIMIT_ENV, "0")
    with pytest.raises(ValueError, match=TOKEN_LIMIT_ENV):
        token_limit()
    assert token_limit(5) == 5  # the option wins over the environment
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    assert record_limit(1_000, max_chars=5_000) == 1_000 and record_limit(1_000, max_chars=10) == 10


def test_cli_takes_the_limits(model_dir, tmp_path, monkeypatch):
    from tests.annotate.test_annotate import read_output, run_cli_here, write_jsonl_input

    monkeypatch.delenv(LIMIT_ENV, raising=False)
    monkeypatch.delenv(TOKEN_LIMIT_ENV, raising=False)
    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": "a", "text": ABSTRACT[:50]}, {"id": "b", "text": "x " * 40}, {"id": "c", "text": "(" * 55}])
    out = tmp_path / "out.jsonl"
    test_annotate = Path(__file__).with_name("test_annotate.py")
    result = run_cli_here(model_dir, source, out, "--code", test_annotate, "--max-chars", 60, "--max-tokens", 54)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{source}:2: text of 80 characters is longer than the limit of 60" in result.stdout
    assert f"{source}:3: text of 55 tokens is more than the limit of 54" in result.stdout
    assert [r["id"] for r in read_output(out)] == ["a"]
