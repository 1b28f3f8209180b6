"""Train one config with several seeds at once (one run per seed): the taggers of an ensemble.

    python scripts/train_seeds.py CONFIG OUTPUT --seeds 0,1,2 [--workers N] [spacy train options]

One `spacy train` process per seed, all at once unless --workers says fewer, with the cores
shared out between them. The first seed trains into OUTPUT (with one seed this is plain
`spacy train CONFIG --output OUTPUT`), seed S of the others into OUTPUT_seedS; each run's console
output is in train.log in its folder. While they train, each seed's steps done of max_steps, its
latest dev score and an ETA are shown on stderr (from its log.jsonl, at every evaluation: a
line per seed in a log, one line rewritten in place on a terminal). Every option this script
does not know goes to each `spacy train` (`--paths.train corpus/v2/train.spacy --gpu-id 0 ...`).
Assemble the runs with `scripts/assemble_ensemble.py OUTPUT --seeds 0,1,2 --output DIR`. A failed
run stops the others; the script exits 1 naming its seed, with the end of its log.
"""
from pathlib import Path
from typing import Optional

import typer

from fgen.runs.seed_progress import SeedProgress, max_steps_of
from fgen.runs.seed_training import LOG_NAME, parse_seeds, seed_run_dirs, train_seeds
from fgen.util.console import msg

app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Training config", exists=True, dir_okay=False),
    output: Path = typer.Argument(..., help="Run folder of the first seed; the others' go beside it"),
    seeds: str = typer.Option("0", help="Comma-separated seeds (system.seed of each run)"),
    workers: Optional[int] = typer.Option(None, min=1, help="Runs at once (default: all)"),
) -> None:
    """Train CONFIG once per seed into OUTPUT and OUTPUT_seedS."""
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as err:
        msg.fail(f"--seeds: {err}", exits=1)
    run_dirs = seed_run_dirs(output, seed_list)
    msg.info(f"Training {config} with seeds {seeds}; logs: "
             + ", ".join(str(run_dir / LOG_NAME) for run_dir in run_dirs))
    progress = SeedProgress(dict(zip(seed_list, run_dirs)), max_steps_of(config, ctx.args))

    def done(seed: int, run_dir: Path, seconds: float) -> None:
        progress.clear()
        msg.good(f"Seed {seed} trained in {seconds / 60:.1f} min: {run_dir}")

    try:
        train_seeds(config, output, seed_list, args=ctx.args, workers=workers,
                    on_done=done, on_poll=progress.poll)
    except ValueError as err:
        msg.fail(f"Option {err}", exits=1)
    except RuntimeError as err:
        progress.clear()
        msg.fail(f"Training {config}: {err}", exits=1)
    msg.good(f"Trained {len(run_dirs)} run(s): " + ", ".join(map(str, run_dirs)))


if __name__ == "__main__":
    app()
