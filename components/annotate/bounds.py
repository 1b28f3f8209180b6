"""Every record bounded: what keeps one long or odd record from costing more than its share.

Both annotate paths (`fgen.annotate.run_loop` behind `scripts/annotate.py`, and
`fgen.annotate.distributed.annotate_file` behind `scripts/annotate_ray.py`) use this module:

- a ceiling: a record longer than `record_limit()` characters (default `MAX_RECORD_CHARS`,
  set with `--max-chars` or the environment variable `FGEN_MAX_RECORD_CHARS`, never above
  `nlp.max_length`) is skipped with its reason before the pipeline sees it
  (`fgen.annotate.inputs.within_max_length`);
- a ceiling in tokens, since the pipeline's time follows them: a record whose bounded
  tokenization yields more than `token_limit()` tokens (default `MAX_RECORD_TOKENS`, set with
  `--max-tokens` or `FGEN_MAX_RECORD_TOKENS`) is skipped with its reason too
  (`within_token_limit`; only texts longer than the limit are tokenized for it);
- a record longer than `LONG_RECORD_CHARS`, or with a space-free run longer than
  `fgen.corpus.tokenizer.MAX_CHUNK` characters, is annotated alone (a batch of one, in this
  process), so it never pads a batch of short ones, and tokenized by
  `fgen.corpus.tokenizer.make_doc_bounded` (linear time, offsets exact);
- the rest is annotated in batches as before, in input order.

Inside the pipeline, the CRF's marginals (`fgen.pipeline.ner.crf`) and the link candidates
(`fgen.pipeline.links.link_candidates`) grow linearly with a doc's tokens and entities.
"""
import os
from typing import Callable, Iterable, Iterator, Optional, Tuple, TypeVar, Union

from spacy.language import Language
from spacy.tokens import Doc

from fgen.corpus.tokenizer import long_chunk, make_doc_bounded

MAX_RECORD_CHARS = 100_000  # ten times the longest abstracts; PubMed records above it are not abstracts
LIMIT_ENV = "FGEN_MAX_RECORD_CHARS"
# About 20,000 tokens make 100 KB of abstract-like text; 100 KB of "(" make 100,000.
MAX_RECORD_TOKENS = 30_000
TOKEN_LIMIT_ENV = "FGEN_MAX_RECORD_TOKENS"
LONG_RECORD_CHARS = 20_000  # above this a record gets a batch of its own

C = TypeVar("C")
T = TypeVar("T")
Stream = Iterator[Tuple[Union[str, Doc], C]]


def _limit(option: Optional[int], env: str, default: int, unit: str) -> int:
    if option is not None:
        if option < 1:
            raise ValueError(f"{option}: must be a positive number of {unit}")
        return option
    value = os.environ.get(env, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{env}={value!r}: must be a positive number of {unit}")
    return int(value)


def record_limit(max_length: int = 1_000_000, max_chars: Optional[int] = None) -> int:
    """The longest record annotated, in characters: `max_chars` (`--max-chars`) if given, else
    `FGEN_MAX_RECORD_CHARS` if set, else `MAX_RECORD_CHARS`, and never above `max_length` (the
    pipeline's `nlp.max_length`).

    RAISES (ValueError): the limit is not a positive integer.
    """
    return min(_limit(max_chars, LIMIT_ENV, MAX_RECORD_CHARS, "characters"), max_length)


def token_limit(max_tokens: Optional[int] = None) -> int:
    """The most tokens of a record annotated: `max_tokens` (`--max-tokens`) if given, else
    `FGEN_MAX_RECORD_TOKENS` if set, else `MAX_RECORD_TOKENS`.

    RAISES (ValueError): the limit is not a positive integer.
    """
    return _limit(max_tokens, TOKEN_LIMIT_ENV, MAX_RECORD_TOKENS, "tokens")


def within_token_limit(nlp: Language, text: str, limit: int) -> Tuple[Union[str, Doc], Optional[str]]:
    """Whether `text` holds at most `limit` tokens, told before the pipeline runs.

    nlp (Language): the pipeline (its tokenizer, through `make_doc_bounded`: linear time).
    text (str): the record's text.
    limit (int): the most tokens (see `token_limit`).
    RETURNS (Tuple[Union[str, Doc], Optional[str]]): (`text`, None) when it is too short to
        hold more (a token has a character at least); (its Doc, None) when it was tokenized and
        holds at most `limit` (annotate that Doc: no second tokenization); else (`text`, reason).
    """
    if len(text) <= limit:
        return text, None
    doc = make_doc_bounded(nlp, text)
    if len(doc) > limit:
        return text, f"text of {len(doc)} tokens is more than the limit of {limit} (--max-tokens, {TOKEN_LIMIT_ENV})"
    return doc, None


def _text(item: Union[str, Doc]) -> str:
    return item.text if isinstance(item, Doc) else item


def annotated_alone(text: str, long_chars: int = LONG_RECORD_CHARS) -> bool:
    """Whether `text` is annotated in a batch of its own: long, or tokenized by
    `make_doc_bounded` (a space-free run the tokenizer would take quadratic time on)."""
    return len(text) > long_chars or long_chunk(text)


def pipe_by_length(
    nlp: Language,
    items: Iterable[Tuple[Union[str, Doc], C]],
    run: Callable[[Stream, bool], Iterator[T]],
    long_chars: int = LONG_RECORD_CHARS,
) -> Iterator[T]:
    """The outputs of `run` over `items`, in input order: consecutive ordinary records go to one
    `run(stream, False)` call (batched as usual), every record that `annotated_alone` selects to
    a `run(stream, True)` call of its own, as a Doc from `make_doc_bounded` (or the one given).

    nlp (Language): the pipeline (its tokenizer makes the Docs of the records annotated alone).
    items (Iterable[Tuple[Union[str, Doc], Any]]): (text or its Doc, e.g. from
        `within_token_limit`, context) pairs, read lazily.
    run (Callable[[Iterator, bool], Iterator]): annotates a stream of (text or Doc, context)
        pairs, e.g. `nlp.pipe(stream, as_tuples=True, batch_size=1 if alone else batch_size)`.
    long_chars (int): records longer than this are annotated alone.
    RETURNS (Iterator): what `run` yields, call after call.
    """
    items = iter(items)
    upcoming = next(items, None)
    while upcoming is not None:
        text, context = upcoming
        if annotated_alone(_text(text), long_chars):
            upcoming = next(items, None)
            doc = text if isinstance(text, Doc) else make_doc_bounded(nlp, text)
            yield from run(iter([(doc, context)]), True)
            continue
        state = {"next": None}

        def ordinary(first: Tuple[Union[str, Doc], C]) -> Iterator[Tuple[Union[str, Doc], C]]:
            yield first
            for item in items:
                if annotated_alone(_text(item[0]), long_chars):
                    state["next"] = item  # ends this stream; annotated after its batch
                    return
                yield item

        yield from run(ordinary(upcoming), False)
        upcoming = state["next"]
