"""The `annotate` command: `fgen-annotate` and `python -m fgen.annotate` (installed with fgen or a
packaged pipeline), and `python scripts/annotate.py` in the repository.

    fgen-annotate MODEL INPUT OUTPUT [--whole-file] [--format jsonl|mae|html|spacy|bioc-xml|bioc-json|pubtator]
        [--batch-size N] [--n-process N] [--gpu-id N] [--resume] [--scheme v2|v1] [--definitions DIR]
        [--code FILE] [--max-chars N] [--max-tokens N]

INPUT: a .txt file (one abstract per line; `--whole-file`: one doc), a .jsonl file
(`{"id": ..., "text": ...}` per line), a PubMed XML file (`PubmedArticleSet`), a BioC collection
(`.xml`, `.json`), a PubTator file (`.pubtator`), or a folder of them (`fgen.formats`). OUTPUT by
`--format` or its suffix: `.jsonl`, `.html`, `.spacy`, `.xml` (BioC XML), `.json` (BioC JSON),
`.pubtator`, or a folder of MAE files (no suffix). Bad records are reported (`path:line: reason`) and skipped, and so are records
longer than `--max-chars` characters or of more than `--max-tokens` tokens (defaults:
FGEN_MAX_RECORD_CHARS and FGEN_MAX_RECORD_TOKENS, else `fgen.annotate.bounds`' limits).

Options, input and output are checked before the model loads. An existing output file is
replaced; a folder output only when it is empty or an earlier fgen output (nothing else in it).
Annotated docs go to a journal beside OUTPUT (`OUTPUT.partial.jsonl`); OUTPUT is written at the
end, all at once, and the journal deleted. After an interruption, `--resume` continues the
journal (same model and input only). Exit code 1 when nothing could be annotated. The logic
lives in `fgen.annotate.run_loop`.
"""
from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import import_code
from spacy.language import Language

import fgen  # noqa: F401  registers doc._.links, span._.confidence, ...
from fgen.annotate.bounds import LIMIT_ENV, MAX_RECORD_CHARS, MAX_RECORD_TOKENS, TOKEN_LIMIT_ENV
from fgen.annotate.inputs import AnnotateError, Problem
from fgen.annotate.run_loop import annotate, check_run
from fgen.util.progress import Progress
from fgen.annotate.journal import journal_path
from fgen.annotate.outputs import resolve_scheme
from fgen.util.console import msg
from fgen.annotate.loading import PipelineLoadError, load_pipeline, use_device

app = typer.Typer(add_completion=False, help="Annotate abstracts with a trained fgen pipeline.")


def _load(model: str, gpu_id: int) -> Language:
    try:
        use_device(gpu_id)
        return load_pipeline(model)
    except PipelineLoadError as err:
        msg.fail(str(err), exits=1)


@app.command()
def main(
    model: str = typer.Argument(..., help="Pipeline folder (e.g. training/pipeline/model-best) or installed package name"),
    input_path: Path = typer.Argument(..., help=".txt, .jsonl, PubMed or BioC .xml, BioC .json or .pubtator file, or a folder of them"),
    output: Path = typer.Argument(..., help="Output .jsonl, .html, .spacy, .xml (BioC), .json (BioC) or .pubtator file, or a folder for MAE files"),
    whole_file: bool = typer.Option(False, "--whole-file", help="A .txt file is one doc (default: one per line)"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="jsonl, mae, html, spacy, bioc-xml, bioc-json or pubtator (default: from OUTPUT)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="nlp.pipe batch size (default: the pipeline's)"),
    n_process: int = typer.Option(1, "--n-process", "-n", help="Processes for nlp.pipe"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    resume: bool = typer.Option(False, "--resume", help="Continue the journal an interrupted run left"),
    scheme: Optional[str] = typer.Option(None, "--scheme", "-s", help="MAE output: v2 or v1 (default: the pipeline's, else v2)"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="MAE output: folder with the scheme definition files"),
    code: Optional[Path] = typer.Option(None, "--code", "-c", help="Python file to import first (custom components)"),
    max_chars: Optional[int] = typer.Option(None, "--max-chars", help=f"Skip longer records (default: ${LIMIT_ENV}, else {MAX_RECORD_CHARS})"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help=f"Skip records of more tokens, before the pipeline runs (default: ${TOKEN_LIMIT_ENV}, else {MAX_RECORD_TOKENS})"),
) -> None:
    """Annotate texts with MODEL: entities, values and statements, written to OUTPUT."""
    try:  # fail on options and paths before loading the model, which can take a while
        fmt = check_run(input_path, output, fmt, resume=resume, batch_size=batch_size, n_process=n_process, max_chars=max_chars, max_tokens=max_tokens)
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    if code is not None:
        import_code(code)
    nlp = _load(model, gpu_id)
    mae_scheme = None
    if fmt == "mae":
        search_from = [Path(model), input_path, Path.cwd()] if Path(model).exists() else [input_path, Path.cwd()]
        try:
            mae_scheme = resolve_scheme(scheme, definitions, nlp, search_from)
        except AnnotateError as err:
            msg.fail(str(err), exits=1)
    progress = Progress()
    annotated = 0

    def on_problem(problem: Problem) -> None:
        progress.clear()
        msg.warn(str(problem))

    def on_progress(done: int) -> None:
        nonlocal annotated
        annotated = done
        progress.update(done)

    try:
        summary = annotate(
            nlp, input_path, output, fmt, whole_file=whole_file, batch_size=batch_size, n_process=n_process,
            resume=resume, scheme=mae_scheme, max_chars=max_chars, max_tokens=max_tokens, on_problem=on_problem, on_progress=on_progress,
        )
    except AnnotateError as err:
        progress.clear()
        kept = journal_path(output)
        hint = f" (the annotated docs are kept in {kept}: fix this and run again with --resume)" if kept.exists() else ""
        msg.fail(f"{err}{hint}", exits=1)
    except OSError as err:  # the disk filled up, the folder went away, ...
        progress.clear()
        kept = journal_path(output)
        where = f" (the annotated docs are kept in {kept}: run again with --resume)" if kept.exists() else ""
        msg.fail(f"{err.filename or output}: cannot write ({err.strerror or err}){where}", exits=1)
    except KeyboardInterrupt:
        progress.clear()
        msg.warn(f"Interrupted after {annotated} docs: they are in {journal_path(output)}; run again with --resume to continue", exits=130)
    progress.close(summary.annotated)
    resumed = f" + {summary.resumed} from the journal of an earlier run" if summary.resumed else ""
    msg.good(f"Annotated {summary.annotated} docs{resumed}; skipped {summary.skipped}; wrote {summary.written} docs to {summary.output} ({summary.fmt})")
