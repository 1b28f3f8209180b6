"""The retrain loop's two ends (docs/suggest.md): keep the pipeline and dev split before new
annotations are added, and score it against the retrained pipeline on the same dev abstracts.

    python scripts/retrain_report.py snapshot MODEL DEV.spacy OUTPUT_DIR
    python scripts/retrain_report.py compare BEFORE_DIR AFTER_MODEL AFTER_DEV.spacy --output report.md [--definitions DIR]

`snapshot` copies MODEL to OUTPUT_DIR/model and DEV to OUTPUT_DIR/dev.spacy. `compare` scores
BEFORE_DIR/model and AFTER_MODEL on the dev abstracts in both BEFORE_DIR/dev.spacy and AFTER_DEV
(`fgen.suggest.comparison`), and writes the Markdown table and its JSON (`.json` beside it).
"""
import json
import shutil
from pathlib import Path
from typing import Optional

import spacy
import typer
from spacy.tokens import DocBin

import fgen  # noqa: F401  registers doc._.links and doc._.provenance
from fgen.suggest.comparison import comparison_markdown, compare, shared_dev
from fgen.util.atomic import atomic_directory, write_bytes_atomic
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


@app.command()
def snapshot(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="The pipeline before the new annotations"),
    dev: Path = typer.Argument(..., exists=True, dir_okay=False, help="Its dev split (.spacy)"),
    output_dir: Path = typer.Argument(..., help="Where to keep both (replaced)"),
) -> None:
    """Keep MODEL and DEV as they are before the retrain."""
    with atomic_directory(output_dir) as tmp:
        shutil.copytree(model, tmp / "model")
        shutil.copyfile(dev, tmp / "dev.spacy")
    msg.good(f"Kept {model} and {dev} in {output_dir}")


@app.command(name="compare")
def compare_command(
    before_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A snapshot folder (model/, dev.spacy)"),
    after_model: Path = typer.Argument(..., exists=True, file_okay=False, help="The retrained pipeline"),
    after_dev: Path = typer.Argument(..., exists=True, dir_okay=False, help="The dev split after the retrain (.spacy)"),
    output: Path = typer.Option(..., "--output", "-o", help="Markdown report (its JSON goes beside it)"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files"),
) -> None:
    """Score the pipeline before and after on the dev abstracts held out from both."""
    before = spacy.load(before_dir / "model")
    after = spacy.load(after_model)
    dev_sets = [list(DocBin().from_disk(path).get_docs(before.vocab)) for path in (before_dir / "dev.spacy", after_dev)]
    docs = shared_dev(dev_sets)
    if not docs:
        msg.fail("The two dev splits share no abstract: nothing to compare on", exits=1)
    scores = compare(before, after, docs, definitions=definitions)
    write_bytes_atomic(output, comparison_markdown(scores, len(docs), str(before_dir / "model"), str(after_model)).encode("utf8"))
    write_bytes_atomic(output.with_suffix(".json"), json.dumps({"docs": len(docs), **scores}, indent=2).encode("utf8"))
    msg.good(f"Scored both on {len(docs)} dev abstracts: {output}")


if __name__ == "__main__":
    app()
