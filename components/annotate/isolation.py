"""Annotating records so that one the pipeline fails on costs only that record, on every path:
`nlp.pipe` runs over the records in batches, and the records of a batch that failed are run
again one at a time, so only those that fail on their own are lost (and named).

Components report an error through spaCy's error handler (`failures_collected` sets one that
records the error and drops the batch); an error the handlers do not see (the tokenizer, a
component without an error handler) ends `nlp.pipe`, which is then started again after the
records it held are tried alone.
"""
import itertools
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from typing import Any, Iterable, Iterator, List, Optional, Tuple, TypeVar

from spacy.language import Language
from spacy.tokens import Doc

from fgen.util.forking import workers_die_with_parent

Context = TypeVar("Context")


@contextmanager
def failures_collected(nlp: Language, failures: List[BaseException]) -> Iterator[None]:
    """Components that fail on a batch append the error to `failures` and drop the batch
    (spaCy's error handler) instead of ending the run; restored afterwards."""
    saved = [(proc, proc.get_error_handler()) for _, proc in nlp.pipeline if hasattr(proc, "set_error_handler")]
    saved_default = nlp.default_error_handler  # function components use this one

    def collect(name: str, proc: Any, docs: List[Doc], err: Exception) -> None:
        failures.append(err)

    nlp.set_error_handler(collect)
    try:
        yield
    finally:
        nlp.default_error_handler = saved_default
        for proc, handler in saved:
            proc.set_error_handler(handler)


def failure_reason(err: Optional[BaseException]) -> str:
    """The one-line reason of a record the pipeline failed on, e.g. `the pipeline failed on it
    (ValueError: ...)`."""
    detail = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}" if err is not None else "no output"
    return f"the pipeline failed on it ({detail})"


def annotated_isolated(
    nlp: Language, texts: Iterable[Tuple[str, Context]], batch_size: Optional[int] = None, n_process: int = 1,
    failures: Optional[List[BaseException]] = None,
) -> Iterator[Tuple[Context, Optional[Doc], Optional[str]]]:
    """(context, doc, None) for every annotated text, (context, None, reason) for every text the
    pipeline failed on, in input order.

    nlp (Language): the pipeline; its error handlers are set while this runs (`failures_collected`).
    texts (Iterable[Tuple[str, Context]]): (text, context) pairs, read lazily.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    n_process (int): nlp.pipe processes (> 1: an error past the handlers ends the run).
    failures (Optional[List[BaseException]]): where the handlers record errors (a list of the
        caller's, e.g. set up with `failures_collected` for longer than this generator).
    YIELDS (Tuple[Context, Optional[Doc], Optional[str]]): context, doc or None, reason or None.
    """
    own = failures is None
    failures = [] if failures is None else failures
    with failures_collected(nlp, failures) if own else nullcontext():
        yield from _annotated(nlp, iter(texts), batch_size, n_process, failures)


def _annotated(
    nlp: Language, source: Iterator[Tuple[str, Context]], batch_size: Optional[int], n_process: int, failures: List[BaseException],
) -> Iterator[Tuple[Context, Optional[Doc], Optional[str]]]:
    pending: "OrderedDict[int, Tuple[str, Context]]" = OrderedDict()
    numbers = itertools.count()  # one count across restarts of nlp.pipe
    source_errors: List[BaseException] = []

    def tracked() -> Iterator[Tuple[str, int]]:
        while True:
            try:
                text, context = next(source)
            except StopIteration:
                return
            except BaseException as err:  # the reader's own error is not the pipeline's
                source_errors.append(err)
                raise
            number = next(numbers)
            pending[number] = (text, context)
            yield text, number

    def alone(number: int) -> Tuple[Context, Optional[Doc], Optional[str]]:
        text, context = pending.pop(number)
        failures.clear()
        try:
            docs = [doc for doc, _ in nlp.pipe([(text, number)], as_tuples=True, batch_size=1)]
        except Exception as err:
            failures.append(err)
            docs = []
        if docs:
            return context, docs[0], None
        return context, None, failure_reason(failures[-1] if failures else None)

    while True:
        try:
            with workers_die_with_parent() if n_process > 1 else nullcontext():
                for doc, number in nlp.pipe(tracked(), as_tuples=True, batch_size=batch_size, n_process=n_process):
                    for earlier in [n for n in pending if n < number]:  # dropped with a failing batch
                        yield alone(earlier)
                    yield pending.pop(number)[1], doc, None
        except Exception:
            if source_errors or n_process > 1 or not pending:
                raise
            for number in list(pending):  # what nlp.pipe held when it raised
                yield alone(number)
            continue  # nlp.pipe again, on the rest of the source
        break
    for number in list(pending):
        yield alone(number)
