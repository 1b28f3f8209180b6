"""Annotate new abstracts with a trained pipeline: the run behind `scripts/annotate.py`.

Inputs (`fgen.annotate.inputs.read_records`): a `.txt` file (one abstract per line, or the whole file with
`whole_file`), a `.jsonl` file (`{"id": ..., "text": ...}` per line), a PubMed XML file
(`PubmedArticleSet`, streamed), or a folder holding any of these. Readers yield `Record`s and,
for input they cannot use, `Problem`s naming the position (`path:line`, `path: article N`) and
the reason, so one bad record never stops a run.

Outputs (`fgen.annotate.outputs.render_output`): `jsonl` (entities with offsets, values and confidences, statements
with scores), `mae` (a folder of MAE XML files, one per doc), `html` (displaCy plus the
statements) and `spacy` (a DocBin with user data).

Journal (`fgen.annotate.journal`): every annotated doc is appended to `OUTPUT.partial.jsonl` as one line
`{"id": ..., "doc": base64(doc.to_bytes())}`. The final output is rendered from it and written
atomically once the input is exhausted, then the journal is deleted; a run that stops early
leaves the journal, which `annotate(..., resume=True)` continues.
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, Optional, Set, Tuple, Union

from spacy.language import Language

from fgen.annotate.inputs import AnnotateError, Problem, Record, input_files, read_records
from fgen.annotate.journal import journal_line, journal_path, recover_journal
from fgen.annotate.outputs import output_format, render_output
from fgen.corpus.schemes import Scheme


@dataclass
class Summary:
    """What a run did: docs annotated now and taken from the journal, records skipped, output."""

    annotated: int
    resumed: int
    skipped: int
    written: int
    output: Path
    fmt: str


class Progress:
    """Docs/s on stderr: one line rewritten in place on a terminal, a line every `interval`
    seconds otherwise (logs)."""

    def __init__(self, stream: Optional[IO[str]] = None, interval: Optional[float] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 30.0)
        self.start = self.last = time.monotonic()
        self.shown = False

    def _line(self, done: int) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return f"annotated {done} docs ({done / elapsed:.1f} docs/s)"

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.stream.write(("\r\x1b[K" if self.tty else "") + self._line(done) + ("" if self.tty else "\n"))
            self.stream.flush()
            self.shown = self.tty

    def clear(self) -> None:
        """Clear the in-place line (before other output)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def close(self, done: int) -> None:
        self.clear()
        self.stream.write(self._line(done) + "\n")
        self.stream.flush()


def check_journal(output: Union[str, Path], resume: bool) -> Path:
    """The journal path for `output`; without `resume` it must not exist.

    RAISES (AnnotateError): a journal exists and `resume` is False.
    """
    journal = journal_path(output)
    if journal.exists() and not resume:
        raise AnnotateError(f"{journal}: an unfinished run left this journal; pass --resume to continue it, or delete it to start over")
    return journal


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
    resume (bool): continue the journal an interrupted run left.
    scheme (Optional[Scheme]): needed for MAE output.
    on_problem (Callable[[Problem], None]): called for every skipped record or file.
    on_progress (Callable[[int], None]): called with the number of docs annotated so far.
    RETURNS (Summary): counts and where the output went.
    RAISES (AnnotateError): unusable input, output or journal (before anything is annotated), or
        docs that do not fit the MAE scheme (the journal is kept then).
    """
    input_path, output = Path(input_path), Path(output)
    fmt = output_format(output, fmt)
    if fmt == "mae" and scheme is None:
        raise AnnotateError(f"{output}: MAE output needs a scheme")
    journal = check_journal(output, resume)
    if output.resolve() == input_path.resolve():
        raise AnnotateError(f"{output}: the output would replace the input")
    files = input_files(input_path, exclude=[journal, output])
    report = on_problem or (lambda problem: None)
    done: Set[str] = set()
    if journal.exists():
        done, dropped = recover_journal(journal)
        for problem in dropped:
            report(problem)
    counts = {"skipped": 0, "annotated": 0}

    def texts() -> Iterator[Tuple[str, Dict[str, Any]]]:
        for item in read_records(files, whole_file=whole_file):
            if isinstance(item, Record) and len(item.text) > nlp.max_length:
                item = Problem(item.position, f"text of {len(item.text)} characters is longer than nlp.max_length ({nlp.max_length})")
            if isinstance(item, Problem):
                counts["skipped"] += 1
                report(item)
            elif item.id not in done:
                yield item.text, {"id": item.id, "pmid": item.pmid}

    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("ab") as handle:
        for doc, context in nlp.pipe(texts(), as_tuples=True, batch_size=batch_size, n_process=n_process):
            doc._.provenance = {**(doc._.provenance or {}), **{k: v for k, v in context.items() if v is not None}}
            handle.write(journal_line(context["id"], doc))
            handle.flush()  # a line per doc: an interruption loses at most the doc being written
            counts["annotated"] += 1
            if on_progress is not None:
                on_progress(counts["annotated"])
    written = render_output(journal, output, fmt, nlp.vocab, scheme)
    journal.unlink()
    return Summary(counts["annotated"], len(done), counts["skipped"], written, output, fmt)
