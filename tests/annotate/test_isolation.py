"""fgen.annotate.isolation: a record the pipeline fails on costs only that record, whether a
component fails (spaCy's error handler sees it) or the tokenizer does (nlp.pipe itself raises)."""
from typing import List

import pytest
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import raise_error

from fgen.annotate.isolation import annotated_isolated
from tests.annotate.test_annotate import build_nlp

TEXTS = ["one fine.", "two BOOM.", "three fine.", "four TOKBOOM.", "five fine.", "six BOOM.", "seven fine."]


@Language.component("isolation_test_fails_on_boom")
def fails_on_boom(doc: Doc) -> Doc:
    if " BOOM" in doc.text:
        raise ValueError(f"boom in {doc.text!r}")
    return doc


def failing_nlp() -> Language:
    nlp = build_nlp()
    nlp.add_pipe("isolation_test_fails_on_boom")
    tokenizer = nlp.tokenizer

    def tokenize(text: str) -> Doc:
        if "TOKBOOM" in text:
            raise RuntimeError("the tokenizer gave up")
        return tokenizer(text)

    nlp.tokenizer = tokenize
    return nlp


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_only_the_failing_records_are_lost_and_named(batch_size):
    nlp = failing_nlp()
    results = list(annotated_isolated(nlp, ((t, n) for n, t in enumerate(TEXTS)), batch_size=batch_size))
    assert [n for n, _, _ in results] == list(range(len(TEXTS)))  # all, in order, once
    done = {n: doc.text for n, doc, reason in results if doc is not None}
    failed = {n: reason for n, doc, reason in results if doc is None}
    assert done == {0: TEXTS[0], 2: TEXTS[2], 4: TEXTS[4], 6: TEXTS[6]}
    assert failed == {
        1: "the pipeline failed on it (ValueError: boom in 'two BOOM.')",
        3: "the pipeline failed on it (RuntimeError: the tokenizer gave up)",
        5: "the pipeline failed on it (ValueError: boom in 'six BOOM.')",
    }
    assert nlp.default_error_handler is raise_error  # restored


def test_an_error_of_the_reader_is_not_the_pipelines():
    def texts():
        yield "one fine.", 0
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(annotated_isolated(build_nlp(), texts()))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_annotate_skips_and_names_a_record_the_tokenizer_fails_on(tmp_path, batch_size):
    # the single-machine path isolates records as the Ray path does, errors past the handlers too
    from fgen.annotate.run_loop import annotate
    from tests.annotate.test_annotate import read_output, write_jsonl_input

    source = write_jsonl_input(tmp_path / "in.jsonl", [{"id": f"r{n}", "text": t} for n, t in enumerate(TEXTS)])
    problems: List[str] = []
    summary = annotate(failing_nlp(), source, tmp_path / "out.jsonl", batch_size=batch_size, on_problem=lambda p: problems.append(str(p)))
    assert problems == [
        f"{source}:2: the pipeline failed on it (ValueError: boom in 'two BOOM.')",
        f"{source}:4: the pipeline failed on it (RuntimeError: the tokenizer gave up)",
        f"{source}:6: the pipeline failed on it (ValueError: boom in 'six BOOM.')",
    ]
    assert (summary.annotated, summary.failed) == (4, 3)
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == ["r0", "r2", "r4", "r6"]
