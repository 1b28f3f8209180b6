"""Learning curve: entity, value, statement and word-level F against the number of training
abstracts, over the folds of `scripts/split.py` (issue 31, item 1; docs/learning_curve.md).

    python scripts/learning_curve.py OUTPUT_DIR [--folds-dir corpus/v2/folds] [--folds 0,1,2,3,4]
        [--fractions 0.1,0.25,0.5,0.75,1] [--config configs/pipeline_features.cfg] [--max-steps 1340]
        [--max-epochs 0] [--seed 0] [--definitions assets/fgen-corpus] [--features-cache training/features_cache]

For each fold k, nested seeded subsets of `trainK.spacy` (`fgen.runs.learning_curve`) are
trained with one seed for --max-steps steps (`spacy train`, model-last: no model selection on
the test part) and scored on `foldK.spacy`. The default recipe's three seeds cost three times
this; a cheaper recipe is fewer steps (say which in the report). spaCy needs a dev set: the
first docs of the subset, evaluated once at the end and never used to pick a model.
OUTPUT_DIR gets points.json (after each point, so a stopped run keeps what it measured;
--from-points rewrites the rest from it), table.md (the curve and the log fit with its +100 / +300 predictions) and learning_curve.png.
"""
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import spacy
import typer
from spacy.tokens import DocBin

import fgen  # noqa: F401  registers the Doc extensions
from fgen.runs.learning_curve import CurvePoint, markdown_table, plot, points_json, run_curve, summarise, trends
from fgen.runs.subset_training import pipeline_scorer, spacy_trainer
from fgen.util.atomic import write_bytes_atomic
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


def write_outputs(points: Sequence[CurvePoint], output_dir: Path, base: Optional[float] = None) -> None:
    """points.json, and once there are points, table.md and learning_curve.png (the fit's
    predictions at `base` training abstracts, the folds' whole training parts, and +100 / +300)."""
    write_bytes_atomic(output_dir / "points.json", (json.dumps(points_json(points), indent=2) + "\n").encode("utf8"))
    if points:
        rows = summarise(points)
        fitted = trends(rows)
        write_bytes_atomic(output_dir / "table.md", markdown_table(rows, fitted, base=base).encode("utf8"))
        plot(rows, fitted, output_dir / "learning_curve.png", base=base)


@app.command()
def main(
    output_dir: Path = typer.Argument(..., help="Folder for runs, points.json, table.md and learning_curve.png"),
    folds_dir: Path = typer.Option(Path("corpus/v2/folds"), help="trainK.spacy / foldK.spacy of scripts/split.py"),
    folds: str = typer.Option("0,1,2,3,4", help="Comma-separated folds to run"),
    fractions: str = typer.Option("0.1,0.25,0.5,0.75,1", help="Comma-separated fractions of each fold's training part"),
    config: Path = typer.Option(Path("configs/pipeline_features.cfg"), exists=True, dir_okay=False),
    max_steps: int = typer.Option(1340, min=1, help="Training steps of every run"),
    max_epochs: int = typer.Option(0, min=0, help="Train every run this many epochs instead of --max-steps (0: steps)"),
    seed: int = typer.Option(0, help="Training seed and the subsets' order"),
    definitions: Optional[Path] = typer.Option(None, help="Corpus folder with the scheme definition files"),
    features_cache: Optional[Path] = typer.Option(None, help="Shared on-disk encoder feature cache"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g"),
    from_points: bool = typer.Option(False, "--from-points", help="Train nothing: rewrite table.md and the figure from OUTPUT_DIR/points.json (a stopped run)"),
    resume: bool = typer.Option(False, "--resume", help="Keep the points of OUTPUT_DIR/points.json (a stopped run with the same options) and train the rest"),
) -> None:
    """Train on growing subsets of each fold and score on its test part."""
    try:
        fold_ids = [int(f) for f in folds.split(",") if f.strip()]
        fraction_list = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError:
        msg.fail("--folds and --fractions are comma-separated numbers", exits=1)
    vocab = spacy.blank("en").vocab
    fold_docs = []
    for k in fold_ids:
        paths = folds_dir / f"train{k}.spacy", folds_dir / f"fold{k}.spacy"
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            msg.fail(f"{', '.join(missing)}: no such file (run scripts/split.py)", exits=1)
        fold_docs.append(tuple(list(DocBin().from_disk(p).get_docs(vocab)) for p in paths))
    points = []
    base = sum(len(train_docs) for train_docs, _ in fold_docs) / len(fold_docs) if fold_docs else None
    saved_path = output_dir / "points.json"
    saved = [CurvePoint(**p) for p in json.loads(saved_path.read_text(encoding="utf8"))] if (from_points or resume) and saved_path.exists() else []
    if from_points:
        write_outputs(saved, output_dir, base)
        msg.good(f"{len(saved)} points: {output_dir / 'table.md'}")
        return

    def done(point: CurvePoint) -> None:
        points.append(point)
        write_outputs(points, output_dir, base)
        msg.good(f"fold {point.fold}, {point.n_train} abstracts ({point.seconds / 60:.1f} min): "
                 + ", ".join(f"{k} F {v:.1f}" for k, v in point.scores.items()))

    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        run_curve(fold_docs, fraction_list, output_dir, spacy_trainer(config, seed, max_steps, max_epochs, definitions, features_cache, gpu_id),
                  pipeline_scorer(definitions, features_cache), seed=seed, on_point=done, fold_ids=fold_ids, done=saved)
    except (ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"{len(points)} points: {output_dir / 'table.md'}")


if __name__ == "__main__":
    sys.exit(app())
