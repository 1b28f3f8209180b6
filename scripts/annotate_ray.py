"""Annotate many files (e.g. PubMed's baseline) with a trained fgen pipeline on a Ray cluster.

    python scripts/annotate_ray.py MODEL INPUT... OUTPUT_DIR [--actors N] [--cpus-per-actor N]
        [--gpus-per-actor N] [--batch-size N] [--address auto|ray://HOST:PORT] [--code FILE]
        [--retries N] [--markers] [--max-chars N] [--max-tokens N] [--format parquet|bioc-xml|bioc-json|pubtator]

INPUT: files, folders or glob patterns (quoted: `'baseline/*.xml.gz'`) of the inputs
`scripts/annotate.py` reads, PubMed `.xml.gz` among them. One Ray task per input file, run by
a pool of actors that each load MODEL once; each writes `OUTPUT_DIR/<input stem>.parquet` (or
`.xml`, `.json`, `.pubtator` with `--format`, each with a `.fgen-done` sidecar) when its file is
complete, and `OUTPUT_DIR/manifest.jsonl` gets a line per file (records read, annotated,
skipped with reasons, records the pipeline failed on, seconds, worker). Run the same command
again to do only the files that have no complete output yet (failed, missing or
interrupted). Ids found in several files are listed in `OUTPUT_DIR/duplicates.jsonl` (the later
file's version wins). Records longer than `--max-chars` characters or of more than
`--max-tokens` tokens are skipped with their reason (defaults: this machine's
FGEN_MAX_RECORD_CHARS and FGEN_MAX_RECORD_TOKENS, else fgen's limits; the actors are given the
values, so a remote cluster applies them too). Ctrl-C or SIGTERM stops the job: finished files are recorded, temporaries
removed, exit code 130 (SIGINT) or 143 (SIGTERM). Without `--address` a local cluster of this
machine is started (and stopped). The logic lives in `fgen.annotate.distributed`;
docs/scale-out.md has the fault model, the capacity plan and how to run it on a real cluster.
"""
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer
from spacy.util import is_package

from fgen.annotate.bounds import LIMIT_ENV, MAX_RECORD_CHARS, MAX_RECORD_TOKENS, TOKEN_LIMIT_ENV
from fgen.annotate.distributed import DUPLICATES, FORMATS, MANIFEST, Interrupted, RunSummary, run
from fgen.annotate.inputs import AnnotateError
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


class FileProgress:
    """One line per finished file: files done / total, its counts, abstracts/s so far."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.done = self.annotated = 0
        self.total: Optional[int] = None

    def __call__(self, entry: Dict[str, Any]) -> None:
        self.done += 1
        self.annotated += entry["annotated"]
        rate = self.annotated / max(time.monotonic() - self.start, 1e-9)
        where = f"[{self.done}/{self.total}] {Path(entry['input']).name}"
        if entry["status"] == "done":
            seconds = f" in {entry['seconds']:.1f} s" if entry["seconds"] is not None else ""
            msg.text(f"{where}: {entry['annotated']} annotated, {entry['skipped']} skipped{seconds} on {entry['worker']} ({rate:.1f} abstracts/s overall)")
        else:
            msg.warn(f"{where}: failed: {entry['error']}")


@app.command()
def main(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name (e.g. en_fgen_pipeline), loadable on every worker"),
    inputs: List[str] = typer.Argument(..., help="Input files, folders or glob patterns, then OUTPUT_DIR"),
    output_dir: Path = typer.Argument(..., help="Folder for the <input stem>.<ext> outputs and manifest.jsonl"),
    actors: int = typer.Option(1, "--actors", "-a", min=1, help="Actors in the pool; each loads the pipeline once"),
    cpus_per_actor: float = typer.Option(1.0, "--cpus-per-actor", min=0, help="CPUs Ray reserves per actor"),
    gpus_per_actor: float = typer.Option(0.0, "--gpus-per-actor", min=0, help="GPUs per actor (> 0: the actors use the GPU)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="nlp.pipe batch size (default: the pipeline's)"),
    address: Optional[str] = typer.Option(None, "--address", help="Cluster to join: auto or ray://HOST:PORT (default: start a local one)"),
    code: Optional[Path] = typer.Option(None, "--code", "-c", help="Python file each actor imports first (custom components)"),
    retries: int = typer.Option(3, "--retries", min=0, help="Times a file's task is retried after its worker died"),
    markers: bool = typer.Option(False, "--markers", help="Write <output>._SUCCESS after each file and skip on it (object storage, where rename is not atomic)"),
    max_chars: Optional[int] = typer.Option(None, "--max-chars", min=1, help=f"Skip longer records (default: ${LIMIT_ENV}, else {MAX_RECORD_CHARS})"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help=f"Skip records of more tokens, before the pipeline runs (default: ${TOKEN_LIMIT_ENV}, else {MAX_RECORD_TOKENS})"),
    fmt: str = typer.Option("parquet", "--format", "-f", help=f"Output format: {', '.join(FORMATS)} (BioC and PubTator files get a .fgen-done sidecar)"),
) -> None:
    """Annotate INPUT files with MODEL on Ray: one output file per input in OUTPUT_DIR."""
    if not Path(model).exists() and not is_package(model):
        msg.fail(f"{model}: no such pipeline folder or installed package", exits=1)
    if code is not None and not code.is_file():
        msg.fail(f"{code}: no such file (--code)", exits=1)
    progress = FileProgress()

    def on_start(todo: int, already_done: int) -> None:
        progress.total = todo
        earlier = f" ({already_done} done by an earlier run)" if already_done else ""
        msg.info(f"Annotating {todo} files{earlier} with {actors} actors")

    try:
        summary = run(
            model, inputs, output_dir, actors=actors, cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor,
            batch_size=batch_size, address=address, code=code, retries=retries, markers=markers, max_chars=max_chars, max_tokens=max_tokens,
            fmt=fmt, on_start=on_start, on_file=progress,
        )
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    except Interrupted as stop:
        done = stop.summary
        msg.fail(
            f"Interrupted by {stop.signal}: {done.annotated} abstracts in {done.done} files done in {done.seconds:.1f} s and recorded in "
            f"{output_dir / MANIFEST}; {stop.left} files left: run the same command again to do them",
            exits=130 if stop.signal == "SIGINT" else 143,
        )
    report(summary, output_dir)


def report(summary: RunSummary, output_dir: Path) -> None:
    """The closing lines of a run that was not interrupted; exit code 1 when a file failed."""
    if summary.rebuilt:
        msg.info(f"{summary.rebuilt} files finished by an earlier run had no manifest line: restored from their outputs")
    earlier = f"; {summary.already_done} of {summary.files} files were done by an earlier run" if summary.already_done else ""
    rate = summary.annotated / summary.seconds if summary.seconds else 0.0
    msg.good(f"Annotated {summary.annotated} abstracts in {summary.done} files in {summary.seconds:.1f} s ({rate:.1f} abstracts/s){earlier}; output in {output_dir}")
    if summary.duplicates:
        msg.warn(f"{summary.duplicates} ids are in several files (PubMed's updates revise citations): listed in {output_dir / DUPLICATES}; the later file's version wins")
    if summary.failed:
        msg.fail(f"{summary.failed} files failed (see {output_dir / MANIFEST}); run the same command again to retry them", exits=1)


if __name__ == "__main__":
    app()
