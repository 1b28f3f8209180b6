"""Every record bounded: what keeps one long or odd record from costing more than its share.

Both annotate paths (`fgen.annotate.run_loop` behind `scripts/annotate.py`, and
`fgen.annotate.distributed.annotate_file` behind `scripts/annotate_ray.py`) use this module:

- a ceiling: a record longer than `record_limit()` characters (default `MAX_RECORD_CHARS`,
  set with the environment variable `FGEN_MAX_RECORD_CHARS`, never above `nlp.max_length`) is
  skipped with its reason before the pipeline sees it (`fgen.annotate.inputs.within_max_length`);
- a record longer than `LONG_RECORD_CHARS`, or with a space-free run longer than
  `fgen.corpus.tokenizer.MAX_CHUNK` characters, is annotated alone (a batch of one, in this
  process), so it never pads a batch of short ones, and tokenized by
  `fgen.corpus.tokenizer.make_doc_bounded` (linear time, offsets exact);
- the rest is annotated in batches as before, in input order.

Inside the pipeline, the CRF's marginals (`fgen.pipeline.ner.crf`) and the link candidates
(`fgen.pipeline.links.link_candidates`) grow linearly with a doc's tokens and entities.
"""
import os
from typing import Callable, Iterable, Iterator, Tuple, TypeVar, Union

from spacy.language import Language
from spacy.tokens import Doc

from fgen.corpus.tokenizer import long_chunk, make_doc_bounded

MAX_RECORD_CHARS = 100_000  # ten times the longest abstracts; PubMed records above it are not abstracts
LIMIT_ENV = "FGEN_MAX_RECORD_CHARS"
LONG_RECORD_CHARS = 20_000  # above this a record gets a batch of its own

C = TypeVar("C")
T = TypeVar("T")
Stream = Iterator[Tuple[Union[str, Doc], C]]


def record_limit(max_length: int = 1_000_000) -> int:
    """The longest record annotated, in characters: `FGEN_MAX_RECORD_CHARS` if set, else
    `MAX_RECORD_CHARS`, and never above `max_length` (the pipeline's `nlp.max_length`).

    RAISES (ValueError): FGEN_MAX_RECORD_CHARS is not a positive integer.
    """
    value = os.environ.get(LIMIT_ENV, "").strip()
    if not value:
        return min(MAX_RECORD_CHARS, max_length)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{LIMIT_ENV}={value!r}: must be a positive number of characters")
    return min(int(value), max_length)


def annotated_alone(text: str, long_chars: int = LONG_RECORD_CHARS) -> bool:
    """Whether `text` is annotated in a batch of its own: long, or tokenized by
    `make_doc_bounded` (a space-free run the tokenizer would take quadratic time on)."""
    return len(text) > long_chars or long_chunk(text)


def pipe_by_length(
    nlp: Language,
    items: Iterable[Tuple[str, C]],
    run: Callable[[Stream, bool], Iterator[T]],
    long_chars: int = LONG_RECORD_CHARS,
) -> Iterator[T]:
    """The outputs of `run` over `items`, in input order: consecutive ordinary records go to one
    `run(stream, False)` call (batched as usual), every record that `annotated_alone` selects to
    a `run(stream, True)` call of its own, as a Doc from `make_doc_bounded`.

    nlp (Language): the pipeline (its tokenizer makes the Docs of the records annotated alone).
    items (Iterable[Tuple[str, Any]]): (text, context) pairs, read lazily.
    run (Callable[[Iterator, bool], Iterator]): annotates a stream of (text or Doc, context)
        pairs, e.g. `nlp.pipe(stream, as_tuples=True, batch_size=1 if alone else batch_size)`.
    long_chars (int): records longer than this are annotated alone.
    RETURNS (Iterator): what `run` yields, call after call.
    """
    items = iter(items)
    upcoming = next(items, None)
    while upcoming is not None:
        text, context = upcoming
        if annotated_alone(text, long_chars):
            upcoming = next(items, None)
            yield from run(iter([(make_doc_bounded(nlp, text), context)]), True)
            continue
        state = {"next": None}

        def ordinary(first: Tuple[str, C]) -> Iterator[Tuple[str, C]]:
            yield first
            for item in items:
                if annotated_alone(item[0], long_chars):
                    state["next"] = item  # ends this stream; annotated after its batch
                    return
                yield item

        yield from run(ordinary(upcoming), False)
        upcoming = state["next"]
