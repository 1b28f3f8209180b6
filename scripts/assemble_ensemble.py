"""Assemble one pipeline whose entity tagger averages several trained pipelines' taggers.

    python scripts/assemble_ensemble.py MODEL0 MODEL1 [MODEL2 ...] --output DIR [--entity-bias 1.5]
    python scripts/assemble_ensemble.py RUN --seeds 0,1,2 --output DIR [--checkpoint model-best]

The pipelines were trained on the same frozen encoder (configs/pipeline_features.cfg, e.g. with
other seeds: `--system.seed N`). With --seeds, RUN is the run folder of scripts/train_seeds.py
and the taggers are each run's CHECKPOINT (RUN/model-best, RUN_seed1/model-best, ...). The
output is the first pipeline with its `fgen_ner` model an `fgen.ner_ensemble.v1` of every
pipeline's tagger; values and statements are the first's, and the encoder runs once per doc for
all taggers (fgen/pipeline/ner/ensemble_assembly.py). One pipeline alone is written unchanged
(--entity-bias is for averages), so a one-seed run goes through the same steps. The folder is
written whole or not at all; load it with `spacy.load(DIR)`.
"""
from pathlib import Path
from typing import List, Optional

import spacy
import typer

import fgen  # noqa: F401  registers fgen's extensions and functions
from fgen.pipeline.ner.ensemble_assembly import assemble_ner_ensemble
from fgen.runs.seed_training import parse_seeds, seed_run_dirs
from fgen.util.atomic import atomic_directory
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


@app.command()
def main(
    models: List[Path] = typer.Argument(..., help="Trained pipelines (the first gives values and statements), or one run folder with --seeds", exists=True),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the assembled pipeline"),
    seeds: Optional[str] = typer.Option(None, help="MODELS is one run folder of scripts/train_seeds.py with these seeds"),
    checkpoint: str = typer.Option("model-best", help="With --seeds: which checkpoint of each run"),
    entity_bias: Optional[float] = typer.Option(None, help="The ensemble's entity_bias (default: the first pipeline's)"),
) -> None:
    """Write the ensemble pipeline of MODELS to OUTPUT."""
    if seeds is not None:
        if len(models) != 1:
            msg.fail(f"--seeds takes one run folder, got {len(models)}", exits=1)
        try:
            models = [run_dir / checkpoint for run_dir in seed_run_dirs(models[0], parse_seeds(seeds))]
        except ValueError as err:
            msg.fail(f"--seeds: {err}", exits=1)
        missing = [str(model) for model in models if not (model / "meta.json").exists()]
        if missing:
            msg.fail(f"No trained pipeline in {', '.join(missing)}", exits=1)
    pipelines = [spacy.load(model) for model in models]
    if len(pipelines) == 1:
        nlp, done = pipelines[0], f"One pipeline, {models[0]}, written unchanged to {output}"
    else:
        try:
            nlp = assemble_ner_ensemble(pipelines, entity_bias=entity_bias)
        except ValueError as err:
            msg.fail(f"Cannot assemble {', '.join(map(str, models))}: {err}", exits=1)
        bias = nlp.get_pipe("fgen_ner").cfg["entity_bias"]
        done = f"Ensemble of {len(models)} taggers (entity_bias {bias}) written to {output}"
    with atomic_directory(output) as tmp:
        nlp.to_disk(tmp)
    msg.good(done)


if __name__ == "__main__":
    app()
