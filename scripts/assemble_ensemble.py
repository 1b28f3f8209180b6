"""Assemble one pipeline whose entity tagger averages several trained pipelines' taggers.

    python scripts/assemble_ensemble.py MODEL0 MODEL1 [MODEL2 ...] --output DIR [--entity-bias 1.5]

The pipelines were trained on the same frozen encoder (configs/pipeline_features.cfg, e.g. with
other seeds: `--system.seed N`). The output is MODEL0 with its `fgen_ner` model an
`fgen.ner_ensemble.v1` of every pipeline's tagger; values and statements are MODEL0's, and the
encoder runs once per doc for all members (fgen/pipeline/ner/ensemble_assembly.py). The folder
is written whole or not at all; load it with `spacy.load(DIR)`.
"""
from pathlib import Path
from typing import List, Optional

import spacy
import typer

import fgen  # noqa: F401  registers fgen's extensions and functions
from fgen.pipeline.ner.ensemble_assembly import assemble_ner_ensemble
from fgen.util.atomic import atomic_directory
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


@app.command()
def main(
    models: List[Path] = typer.Argument(..., help="Trained pipelines (the first gives values and statements)", exists=True),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the assembled pipeline"),
    entity_bias: Optional[float] = typer.Option(None, help="The ensemble's entity_bias (default: the first pipeline's)"),
) -> None:
    """Write the ensemble pipeline of MODELS to OUTPUT."""
    pipelines = [spacy.load(model) for model in models]
    try:
        nlp = assemble_ner_ensemble(pipelines, entity_bias=entity_bias)
    except ValueError as err:
        msg.fail(f"Cannot assemble {', '.join(map(str, models))}: {err}", exits=1)
    with atomic_directory(output) as tmp:
        nlp.to_disk(tmp)
    bias = nlp.get_pipe("fgen_ner").cfg["entity_bias"]
    msg.good(f"Ensemble of {len(models)} taggers (entity_bias {bias}) written to {output}")


if __name__ == "__main__":
    app()
