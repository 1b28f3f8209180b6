"""Add newly annotated or corrected MAE files to the project's corpus folder, one version per PMID.

    python scripts/add_annotations.py NEW_MAE... [--corpus DIR]... [--added annotations/v2]
        [--scheme v2] [--definitions DIR] [--replace] [--skip-problems]

Every file is listed with its status (new, same, replaced, conflict, invalid: see
`fgen.suggest.additions`). A different version of an abstract already in the corpus is a conflict,
never written; nothing is written while any file is a conflict or invalid (exit code 1), unless
`--skip-problems`. `convert-v2` reads the `--added` folder with the corpus, so `spacy project run
retrain` (docs/suggest.md) then trains on them.
"""
from pathlib import Path
from typing import List, Optional

import typer

import fgen  # noqa: F401  registers doc._.links and doc._.provenance
from fgen.corpus.schemes import find_definitions_dir, load_scheme
from fgen.suggest.additions import ADDED, add_annotations
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


@app.command()
def main(
    new: List[Path] = typer.Argument(..., help="New or corrected MAE files or folders (searched recursively)", exists=True),
    corpus: List[Path] = typer.Option([], "--corpus", help="The annotated corpus: MAE files or folders (repeatable)"),
    added: Path = typer.Option(ADDED, "--added", help="The project folder of added annotations"),
    scheme: str = typer.Option("v2", "--scheme", "-s", help="v2 or v1"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files"),
    replace: bool = typer.Option(False, "--replace", help="A new version of a file added before replaces it"),
    skip_problems: bool = typer.Option(False, "--skip-problems", help="Add the good files even when others are conflicts or invalid"),
) -> None:
    """Add MAE files to the corpus folder ADDED, deduplicated by PMID; conflicts reported."""
    defs_dir = definitions or find_definitions_dir([*corpus, *new, Path.cwd()], scheme)
    if defs_dir is None:
        msg.fail(f"No definition files for scheme {scheme}: pass --definitions", exits=2)
    plan, written = add_annotations(new, load_scheme(defs_dir, scheme), corpus, added, replace, skip_problems)
    for item in plan:
        (msg.fail if item.status in ("conflict", "invalid") else msg.text)(str(item))
    counts = {status: sum(a.status == status for a in plan) for status in ("new", "same", "replaced", "conflict", "invalid")}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    if (counts["conflict"] or counts["invalid"]) and not skip_problems:
        msg.fail(f"{summary}: nothing written (resolve the conflicts, or --skip-problems to add the rest)", exits=1)
    msg.good(f"{summary}: wrote {written} file(s) to {added}")


if __name__ == "__main__":
    app()
