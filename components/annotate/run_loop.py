"""Annotate new abstracts with a trained pipeline: the run behind `scripts/annotate.py`.

Inputs (`fgen.annotate.inputs.read_records`): a `.txt` file (one abstract per line, or the whole file with
`whole_file`), a `.jsonl` file (`{"id": ..., "text": ...}` per line), a PubMed XML file
(`PubmedArticleSet`, streamed), a BioC collection (`.xml`, `.json`), a PubTator file
(`.pubtator`), or a folder holding any of these (readers in `fgen.formats`). Readers yield `Record`s and,
for input they cannot use, `Problem`s naming the position (`path:line`, `path: article N`) and
the reason, so one bad record never stops a run.

Outputs (`fgen.annotate.outputs.render_output`): `jsonl` (entities with offsets, values and confidences, statements
with scores), `mae` (a folder of MAE XML files, one per doc), `html` (displaCy plus the
statements), `spacy` (a DocBin with user data), `bioc-xml` and `bioc-json` (a BioC collection:
passages, entities as annotations, statements as relations) and `pubtator` (entities only). A
record's passages (PubMed XML, BioC, PubTator input) travel in `doc._.provenance["passages"]`.

Journal (`fgen.annotate.journal`): every annotated doc is appended to `OUTPUT.partial.jsonl` as one line
(after a header naming the model and the input), flushed at once and fsynced at most
`JOURNAL_SYNC_SECONDS` apart (`fgen.util.atomic.DurableAppend`). The final output is rendered from it and written
atomically once the input is exhausted, then the journal is deleted; a run that stops early
leaves the journal, which `annotate(..., resume=True)` continues if model and input are the same.

Nothing that would destroy data or cannot work is started: options, input, output location
(`fgen.annotate.output_location`) and journal are checked first (`check_run`), before a model
is needed. A record the pipeline fails on is reported and skipped, not fatal to the run
(`fgen.annotate.isolation`, as on the Ray path).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from fgen.annotate.bounds import pipe_by_length, record_limit, token_limit, within_token_limit
from fgen.annotate.inputs import AnnotateError, Problem, Record, input_files, read_records, within_max_length
from fgen.annotate.isolation import annotated_isolated, failures_collected
from fgen.annotate.journal import (
    JournalState, failed_line, input_source, journal_header, journal_line, journal_path, model_source, recover_journal,
    start_journal,
)
from fgen.annotate.output_location import check_output_location, remove_stale_temporaries
from fgen.annotate.outputs import output_format, render_output
from fgen.corpus.schemes import Scheme
from fgen.formats.passages import PROVENANCE_KEY as PASSAGES
from fgen.util.atomic import DurableAppend


@dataclass
class Summary:
    """What a run did: docs annotated now and taken from the journal, records skipped, output."""

    annotated: int
    resumed: int
    skipped: int
    written: int
    output: Path
    fmt: str
    failed: int = 0  # records the pipeline failed on (counted in `skipped` too)


JOURNAL_SYNC_SECONDS = 1.0  # a machine crash loses at most this much of the journal


def check_journal(output: Union[str, Path], resume: bool) -> Path:
    """The journal path for `output`; without `resume` it must not exist.

    RAISES (AnnotateError): a journal exists and `resume` is False.
    """
    journal = journal_path(output)
    if journal.exists() and not resume:
        raise AnnotateError(f"{journal}: an unfinished run left this journal; pass --resume to continue it, or delete it to start over")
    return journal


def check_options(batch_size: Optional[int] = None, n_process: int = 1, max_chars: Optional[int] = None, max_tokens: Optional[int] = None) -> None:
    """RAISES (AnnotateError): a batch size, process count or record limit below 1 (the limits
    from the environment too, see `fgen.annotate.bounds`)."""
    for option, value in (("--batch-size", batch_size), ("--n-process", n_process), ("--max-chars", max_chars), ("--max-tokens", max_tokens)):
        if value is not None and value < 1:
            raise AnnotateError(f"{option} {value}: must be 1 or more")
    try:
        record_limit(max_chars=max_chars)
        token_limit(max_tokens)
    except ValueError as err:
        raise AnnotateError(str(err)) from None


def check_run(
    input_path: Union[str, Path],
    output: Union[str, Path],
    fmt: Optional[str] = None,
    *,
    resume: bool = False,
    batch_size: Optional[int] = None,
    n_process: int = 1,
    max_chars: Optional[int] = None,
    max_tokens: Optional[int] = None,
) -> str:
    """Every check of a run that needs no model: options, output format, input, output location
    (see `fgen.annotate.output_location.check_output_location`) and journal.

    RETURNS (str): the output format.
    RAISES (AnnotateError): the first problem, as one line.
    """
    check_options(batch_size, n_process, max_chars, max_tokens)
    fmt = output_format(output, fmt)
    input_files(input_path)
    check_output_location(output, fmt == "mae", [input_path])
    check_journal(output, resume)
    return fmt


def annotate(
    nlp: Language,
    input_path: Union[str, Path],
    output: Union[str, Path],
    fmt: Optional[str] = None,
    *,
    whole_file: bool = False,
    batch_size: Optional[int] = None,
    n_process: int = 1,
    resume: bool = False,
    scheme: Optional[Scheme] = None,
    max_chars: Optional[int] = None,
    max_tokens: Optional[int] = None,
    on_problem: Optional[Callable[[Problem], None]] = None,
    on_progress: Optional[Callable[[int], None]] = None,
) -> Summary:
    """Annotate every record of `input_path` with `nlp` and write `output`.

    nlp (Language): the pipeline.
    input_path (Path): a .txt, .jsonl or PubMed .xml file, or a folder of them.
    output (Path): the output file or (MAE) folder; written only at the end, atomically.
    fmt (Optional[str]): jsonl, mae, html or spacy (default: from OUTPUT's suffix).
    whole_file (bool): a .txt file is one doc, not one per line.
    batch_size (Optional[int]): nlp.pipe batch size (default: the pipeline's).
    n_process (int): nlp.pipe processes.
    resume (bool): continue the journal an interrupted run left (same model and input).
    scheme (Optional[Scheme]): needed for MAE output.
    max_chars (Optional[int]): longer records are skipped (default: FGEN_MAX_RECORD_CHARS, else
        `fgen.annotate.bounds.MAX_RECORD_CHARS`; at most `nlp.max_length`).
    max_tokens (Optional[int]): records of more tokens are skipped before the pipeline runs
        (default: FGEN_MAX_RECORD_TOKENS, else `fgen.annotate.bounds.MAX_RECORD_TOKENS`).
    on_problem (Callable[[Problem], None]): called for every skipped record or file.
    on_progress (Callable[[int], None]): called with the number of docs annotated so far.
    RETURNS (Summary): counts and where the output went.
    RAISES (AnnotateError): unusable options, input, output or journal (before anything is
        annotated, see `check_run`), no record annotated, or docs that do not fit the MAE scheme
        (the journal is kept then).
    """
    input_path, output = Path(input_path), Path(output)
    fmt = check_run(input_path, output, fmt, resume=resume, batch_size=batch_size, n_process=n_process, max_chars=max_chars, max_tokens=max_tokens)
    tokens = token_limit(max_tokens)
    if fmt == "mae" and scheme is None:
        raise AnnotateError(f"{output}: MAE output needs a scheme")
    journal = journal_path(output)
    files = input_files(input_path, exclude=[journal, output])
    header = journal_header(model_source(nlp), input_source(files, whole_file))
    report = on_problem or (lambda problem: None)
    for stale in (output, journal):
        remove_stale_temporaries(stale)
    state = JournalState()
    if journal.exists():
        state = recover_journal(journal, header)
        for problem in state.problems:
            report(problem)
    else:
        journal.parent.mkdir(parents=True, exist_ok=True)
        start_journal(journal, header)
    counts = {"skipped": 0, "annotated": 0, "failed": 0}

    def texts() -> Iterator[Tuple[Union[str, Doc], Dict[str, Any]]]:
        for item in read_records(files, whole_file=whole_file):
            item = within_max_length(item, nlp.max_length, max_chars)
            if isinstance(item, Record) and item.id in state.failed:
                item = Problem(item.position, "skipped: the pipeline failed on it in the interrupted run")
            if isinstance(item, Record) and item.id not in state.done:
                text, too_long = within_token_limit(nlp, item.text, tokens)
                item = Problem(item.position, too_long) if too_long else item
            if isinstance(item, Problem):
                counts["skipped"] += 1
                report(item)
            elif item.id not in state.done:
                passages = [p.to_dict() for p in item.passages] or None  # for the writers with passages (BioC, PubTator)
                yield text, {"id": item.id, "pmid": item.pmid, PASSAGES: passages, "position": item.position}

    failures: List[BaseException] = []
    # flushed per doc (a killed run loses at most the doc being written), synced each second and at the end
    with DurableAppend(journal, sync_interval=JOURNAL_SYNC_SECONDS) as handle, failures_collected(nlp, failures):
        alone_or_batched = lambda stream, alone: annotated_isolated(  # noqa: E731
            nlp, stream, 1 if alone else batch_size, 1 if alone else n_process, failures)
        for context, doc, reason in pipe_by_length(nlp, texts(), alone_or_batched):
            position = context.pop("position")
            if doc is None:
                counts["skipped"] += 1
                counts["failed"] += 1
                report(Problem(position, reason))
                handle.write(failed_line(context["id"], reason))
            else:
                doc._.provenance = {**(doc._.provenance or {}), **{k: v for k, v in context.items() if v is not None}}
                handle.write(journal_line(context["id"], doc))
                counts["annotated"] += 1
            if on_progress is not None and doc is not None:
                on_progress(counts["annotated"])
    if not counts["annotated"] and not state.done:
        journal.unlink()
        why = f"{counts['skipped']} skipped, see above" if counts["skipped"] else "the input holds no records"
        raise AnnotateError(f"{input_path}: no record could be annotated ({why}); nothing was written")
    written = render_output(journal, output, fmt, nlp.vocab, scheme)
    journal.unlink()
    return Summary(counts["annotated"], len(state.done), counts["skipped"], written, output, fmt, counts["failed"])
