"""The `suggest` command: `fgen-suggest` (installed with fgen or a packaged pipeline) and
`python scripts/suggest.py` in the repository.

    fgen-suggest MODEL POOL... OUTPUT_DIR [--top N] [--strategy combined|uncertainty|disagreement|random]
        [--corpus PATH]... [--scheme v2|v1] [--definitions DIR] [--seed N] [--batch-size N]
        [--gpu-id N] [--max-chars N] [--max-tokens N]

POOL: what `fgen-annotate` reads (.txt, .jsonl, PubMed XML, folders of them). OUTPUT_DIR gets
`ranking.csv` (every ranked pool id once: `id,rank,score`, the signals and the output sizes),
`summary.json` (counts, weights, the ids left out as already annotated, skipped records) and the
top N records as MAE pre-annotations `<id>.xml` that `scripts/convert.py` reads back. `--corpus`
(MAE files or folders, or DocBins) names what is annotated already: pool records of the same
PMID are left out and counted. OUTPUT_DIR must be new, empty or an earlier fgen output; it is
replaced as a whole. How records are scored: `fgen.suggest.ranking` and docs/suggest.md.
"""
from pathlib import Path
from typing import List, Optional

import typer

import fgen  # noqa: F401  registers doc._.links, span._.confidence, ...
from fgen.annotate.inputs import AnnotateError, Problem, input_files
from fgen.annotate.loading import PipelineLoadError, load_pipeline, use_device
from fgen.annotate.output_location import check_output_location
from fgen.annotate.outputs import resolve_scheme
from fgen.annotate.run_loop import check_options
from fgen.suggest.ranking import STRATEGIES, suggest
from fgen.util.console import msg

app = typer.Typer(add_completion=False, help="Rank unannotated abstracts for annotation and pre-annotate the best.")


@app.command()
def main(
    model: str = typer.Argument(..., help="Pipeline folder (e.g. training/pipeline_features_ensemble/model) or installed package name"),
    paths: List[Path] = typer.Argument(..., help="POOL files or folders (.txt, .jsonl, PubMed .xml), then OUTPUT_DIR"),
    top: int = typer.Option(10, "--top", "-n", help="How many of the best to write as MAE files"),
    strategy: str = typer.Option("combined", "--strategy", help=f"{', '.join(STRATEGIES)} (docs/suggest.md)"),
    corpus: List[Path] = typer.Option([], "--corpus", help="Annotated MAE files/folders or DocBins: their PMIDs are left out (repeatable)"),
    scheme: Optional[str] = typer.Option(None, "--scheme", "-s", help="v2 or v1 (default: the pipeline's, else v2)"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files"),
    seed: int = typer.Option(0, "--seed", help="Seed of --strategy random"),
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Records per batch"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    max_chars: Optional[int] = typer.Option(None, "--max-chars", help="Skip longer records (as fgen-annotate)"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Skip records of more tokens (as fgen-annotate)"),
) -> None:
    """Score every POOL abstract with MODEL, rank them, and write the top N as MAE files."""
    if len(paths) < 2:
        msg.fail("Give at least one POOL file or folder and the OUTPUT_DIR", exits=2)
    *pool, output_dir = paths
    try:  # options and paths before the model loads
        if strategy not in STRATEGIES:
            raise AnnotateError(f"--strategy {strategy}: unknown (choose {', '.join(STRATEGIES)})")
        check_options(batch_size, 1, max_chars, max_tokens)
        files = [f for path in pool for f in input_files(path, exclude=[output_dir])]
        check_output_location(output_dir, True, pool)
        missing = [str(p) for p in corpus if not p.exists()]
        if missing:
            raise AnnotateError(f"--corpus {', '.join(missing)}: no such file or folder")
        use_device(gpu_id)
        nlp = load_pipeline(model)
        search_from = [Path(model), *pool, Path.cwd()] if Path(model).exists() else [*pool, Path.cwd()]
        mae_scheme = resolve_scheme(scheme, definitions, nlp, search_from)
    except (AnnotateError, PipelineLoadError) as err:
        msg.fail(str(err), exits=1)

    def on_problem(problem: Problem) -> None:
        msg.warn(str(problem))

    try:
        summary = suggest(nlp, files, output_dir, mae_scheme, top=top, strategy=strategy, corpus=corpus, seed=seed,
                          batch_size=batch_size, max_chars=max_chars, max_tokens=max_tokens, on_problem=on_problem)
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Ranked {summary['ranked']} abstracts ({summary['strategy']}); left out {summary['in_corpus']} already in the corpus, "
             f"skipped {len(summary['skipped'])}; wrote the top {len(summary['top'])} as MAE files and ranking.csv to {output_dir}")
