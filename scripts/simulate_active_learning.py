"""Simulated active learning: does picking abstracts by the pipeline's uncertainty beat picking
them at random? (issue 31, item 3; docs/learning_curve.md)

    python scripts/simulate_active_learning.py OUTPUT_DIR [--pool corpus/v2/train.spacy]
        [--test corpus/v2/dev.spacy] [--strategies random,uncertainty] [--initial 50]
        [--round-size 50] [--rounds 5] [--repeats 3] [--full-pool] [--config configs/pipeline_features.cfg]
        [--max-steps 1340 | --max-epochs E] [--seed 0] [--definitions DIR] [--features-cache DIR]

The pool's labels are hidden and revealed `--round-size` abstracts a round, picked by each
strategy with the round's model (`fgen.suggest.simulation`, fgen-suggest's own ranking). Each
round trains the real pipeline with one seed (`fgen.runs.subset_training`), so `disagreement`
(an ensemble's members) is not available here: it needs 2+ seeds assembled per round.
`--full-pool` also trains once on the whole pool: the F the goal is measured against (else
random's last round). OUTPUT_DIR gets points.json and table.md (the curves, the goal per strategy)
after every round, and simulation.png at the end.
"""
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import spacy
import typer
from spacy.tokens import DocBin

import fgen  # noqa: F401  registers the Doc extensions
from fgen.annotate.inputs import AnnotateError
from fgen.runs.learning_curve import headline_scores
from fgen.runs.subset_training import pipeline_scorer, spacy_trainer, trained_model
from fgen.suggest.simulation import RoundPoint, curves, goal, markdown_table, plot, points_json, simulate, uncertainty_selector
from fgen.util.atomic import write_bytes_atomic
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


def write_outputs(points: Sequence[RoundPoint], output_dir: Path, pool_size: int, full_pool_f: Optional[float],
                  figure: bool = True) -> dict:
    """points.json, table.md and (`figure`) simulation.png; RETURNS the goal per strategy."""
    write_bytes_atomic(output_dir / "points.json", (json.dumps(points_json(points), indent=2) + "\n").encode("utf8"))
    curve = curves(points)
    if full_pool_f is None and curve.get("random"):
        full_pool_f = curve["random"][-1]["mean"]
    reached = goal(curve, full_pool_f, pool_size) if full_pool_f is not None else {}
    lines = [markdown_table(curve), "", f"Reference entity F (random, whole pool or its last round): "
             + ("-" if full_pool_f is None else f"{full_pool_f:.1f}"), ""]
    lines += [f"- {s}: reaches it at {g['reached_at']} of {pool_size} abstracts; "
              f"vs random at {g['at_40']}: {'-' if g['gain_at_40'] is None else format(g['gain_at_40'], '+.1f')} F; "
              f"goal {'met' if g['met'] else 'not met'}" for s, g in reached.items()]
    write_bytes_atomic(output_dir / "table.md", ("\n".join(lines) + "\n").encode("utf8"))
    if figure:
        plot(curve, output_dir / "simulation.png", full_pool_f)
    return reached


@app.command()
def main(
    output_dir: Path = typer.Argument(..., help="Folder for runs, points.json, table.md and simulation.png"),
    pool: Path = typer.Option(Path("corpus/v2/train.spacy"), help="The pool: annotated docs whose labels are hidden"),
    test: Path = typer.Option(Path("corpus/v2/dev.spacy"), help="Gold docs every round is scored on"),
    strategies: str = typer.Option("random,uncertainty", help="Comma-separated: random, uncertainty, disagreement, combined"),
    initial: int = typer.Option(50, min=1, help="Abstracts annotated before the first round"),
    round_size: int = typer.Option(50, min=1, help="Abstracts revealed per round"),
    rounds: int = typer.Option(5, min=1, help="Trainings per strategy and repeat"),
    repeats: int = typer.Option(3, min=1, help="Repeats, each with its own initial set"),
    full_pool: bool = typer.Option(False, "--full-pool", help="Also train once on the whole pool (the goal's reference F)"),
    config: Path = typer.Option(Path("configs/pipeline_features.cfg"), exists=True, dir_okay=False),
    max_steps: int = typer.Option(1340, min=1, help="Training steps of every run"),
    max_epochs: int = typer.Option(0, min=0, help="Train every run this many epochs instead of --max-steps (0: steps)"),
    seed: int = typer.Option(0, help="Training seed; initial sets and random picks follow it"),
    definitions: Optional[Path] = typer.Option(None, help="Corpus folder with the scheme definition files"),
    features_cache: Optional[Path] = typer.Option(None, help="Shared on-disk encoder feature cache"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g"),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped run with the same options: the rounds in OUTPUT_DIR/points.json whose models are there are not trained again"),
) -> None:
    """Rounds of annotation simulated on POOL, per strategy, scored on TEST."""
    for path in (pool, test):
        if not path.is_file():
            msg.fail(f"{path}: no such file (run scripts/split.py)", exits=1)
    vocab = spacy.blank("en").vocab
    pool_docs = list(DocBin().from_disk(pool).get_docs(vocab))
    test_docs = list(DocBin().from_disk(test).get_docs(vocab))
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    train = spacy_trainer(config, seed, max_steps, max_epochs, definitions, features_cache, gpu_id)
    score = pipeline_scorer(definitions, features_cache)
    output_dir.mkdir(parents=True, exist_ok=True)
    full_pool_f = None
    saved_path = output_dir / "points.json"
    earlier = [RoundPoint(**p) for p in json.loads(saved_path.read_text(encoding="utf8"))] if resume and saved_path.exists() else []
    if full_pool:
        run_dir = output_dir / "full_pool"
        run_dir.mkdir(exist_ok=True)
        model = trained_model(run_dir)
        if not (resume and model.exists()):
            DocBin(docs=pool_docs, store_user_data=True).to_disk(run_dir / "train.spacy")
            model = train(run_dir / "train.spacy", run_dir)
        full_pool_f = headline_scores(score(model, test_docs))["entities"]
        msg.good(f"whole pool ({len(pool_docs)} abstracts): entities F {full_pool_f:.1f}")
    points = []

    def done(point: RoundPoint) -> None:
        points.append(point)
        write_outputs(points, output_dir, len(pool_docs), full_pool_f, figure=False)
        msg.good(f"repeat {point.repeat}, {point.strategy}, round {point.round}: {point.n_labelled} abstracts, "
                 + ", ".join(f"{k} F {v:.1f}" for k, v in point.scores.items()))

    try:
        simulate(pool_docs, test_docs, names, output_dir, train, score, uncertainty_selector(features_cache=features_cache), initial=initial,
                 round_size=round_size, rounds=rounds, repeats=repeats, seed=seed, on_point=done, done=earlier,
                 trained_model=trained_model)
    except (ValueError, RuntimeError, AnnotateError) as err:
        msg.fail(str(err), exits=1)
    for strategy, g in write_outputs(points, output_dir, len(pool_docs), full_pool_f).items():
        msg.info(f"{strategy}: goal {'met' if g['met'] else 'not met'} ({g})")


if __name__ == "__main__":
    sys.exit(app())
