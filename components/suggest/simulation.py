"""Simulated active learning on the annotated corpus (issue 31, item 3).

The training part of one fixed split is the pool, its labels hidden; a seeded `initial` set is
"annotated" first. Each round trains on what is annotated, scores the model on the test part,
then the strategy picks the next `round_size` pool abstracts, whose labels are revealed as if
the annotators had just done them. Strategies are `fgen-suggest`'s (`fgen.suggest.ranking`):
`uncertainty` and `disagreement` rank the pool with the round's model exactly as
`scripts/suggest.py` ranks a real pool (`annotate_with_uncertainty`, then `rank`), `random`
draws. Each repeat draws its own initial set, shared by every strategy, so strategies differ
only in what they pick; its first model is trained once and serves every strategy. `disagreement` needs the trainer to give an ensemble (2+ members).

Training, scoring and picking are passed in (`Trainer`, `Scorer`, `Selector`), so the loop is
tested with a fake trainer and the script decides the recipe.
"""
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy
from spacy.tokens import Doc, DocBin
from spacy.util import minibatch

from fgen.runs.learning_curve import headline_scores
from fgen.runs.subset_training import Scorer, Trainer
from fgen.suggest.ranking import Scored, rank

Selector = Callable[[Path, Sequence[Doc], str, int, int], List[int]]  # (model, pool, strategy, n, seed) -> indices


@dataclass
class RoundPoint:
    """One trained model of the simulation: strategy, repeat, round, abstracts annotated, scores (0-100)."""

    strategy: str
    repeat: int
    round: int
    n_labelled: int
    scores: Dict[str, float]


def uncertainty_selector(batch_size: int = 16, features_cache: Optional[Path] = None) -> Selector:
    """A `Selector` ranking the pool with the round's pipeline as `fgen-suggest` does; `random`
    draws with the seed and never loads the pipeline.

    RAISES (fgen.annotate.inputs.AnnotateError): `disagreement` with a single-tagger pipeline.
    """

    def select(model: Path, pool: Sequence[Doc], strategy: str, n: int, seed: int) -> List[int]:
        if strategy == "random":
            return sorted(random.Random(seed).sample(range(len(pool)), min(n, len(pool))))
        from fgen.runs.subset_training import load_with_cache
        from fgen.suggest.uncertainty import annotate_with_uncertainty

        nlp = load_with_cache(model, features_cache)
        scored: List[Scored] = []
        for batch in minibatch(range(len(pool)), batch_size):
            docs = [nlp.make_doc(pool[i].text) for i in batch]
            for i, doc, signals in zip(batch, docs, annotate_with_uncertainty(nlp, docs)):
                scored.append(Scored(str(i), signals, len(doc), len(doc.ents), 0))
        return [int(s.id) for s, _ in rank(scored, strategy, seed)[:n]]

    return select


def simulate(
    pool: Sequence[Doc],
    test_docs: Sequence[Doc],
    strategies: Sequence[str],
    workdir: Path,
    train: Trainer,
    score: Scorer,
    select: Selector,
    *,
    initial: int,
    round_size: int,
    rounds: int,
    repeats: int = 3,
    seed: int = 0,
    on_point: Optional[Callable[[RoundPoint], None]] = None,
    done: Sequence[RoundPoint] = (),
    trained_model: Optional[Callable[[Path], Path]] = None,
) -> List[RoundPoint]:
    """Run every (repeat, strategy): `rounds` trainings on `initial`, `initial + round_size`, ...
    abstracts of `pool` (fewer when the pool runs out), each scored on `test_docs`.

    workdir (Path): subsets and runs go to `workdir/r{repeat}/{strategy}/round{k}`.
    done (Sequence[RoundPoint]): points of an earlier run with the same settings (its points.json):
        a round among them whose model `trained_model(run folder)` still exists is not trained
        again; its model picks the next round as before (random picks follow the seed, the
        ranking is deterministic), so a resumed run is the run it continues.
    trained_model (Optional[Callable[[Path], Path]]): where `train` left a round's model.
    RETURNS (List[RoundPoint]): in the order trained.
    RAISES (ValueError): `initial` or `round_size` below 1, or `initial` beyond the pool.
    """
    if initial < 1 or round_size < 1 or initial > len(pool):
        raise ValueError(f"initial ({initial}) and round_size ({round_size}) must be 1 or more, initial at most the pool ({len(pool)})")
    earlier = {(p.repeat, p.strategy, p.round): p for p in done}
    points: List[RoundPoint] = []
    for repeat in range(repeats):
        start = random.Random(seed + repeat).sample(range(len(pool)), initial)
        first: Optional[tuple] = None  # round 0's model and scores: the same set for every strategy
        for strategy in strategies:
            labelled = list(start)
            for k in range(rounds):
                run_dir = workdir / f"r{repeat}" / strategy / f"round{k}"
                before = earlier.get((repeat, strategy, k))
                if k == 0 and first is not None:
                    model, scores = first
                elif (before is not None and trained_model is not None and before.n_labelled == len(labelled)
                      and trained_model(run_dir).exists()):
                    model, scores = trained_model(run_dir), before.scores
                    if k == 0:
                        first = model, scores
                else:
                    run_dir.mkdir(parents=True, exist_ok=True)
                    train_path = run_dir / "train.spacy"
                    DocBin(docs=[pool[i] for i in sorted(labelled)], store_user_data=True).to_disk(train_path)
                    model = train(train_path, run_dir)
                    scores = headline_scores(score(model, test_docs))
                    if k == 0:
                        first = model, scores
                point = RoundPoint(strategy, repeat, k, len(labelled), scores)
                points.append(point)
                if on_point is not None:
                    on_point(point)
                taken = set(labelled)
                rest = [i for i in range(len(pool)) if i not in taken]
                if k == rounds - 1 or not rest:
                    break
                picked = select(model, [pool[i] for i in rest], strategy, round_size, seed + 1000 * repeat + k)
                labelled += [rest[i] for i in picked]
    return points


def curves(points: Sequence[RoundPoint], metric: str = "entities") -> Dict[str, List[dict]]:
    """Per strategy, per number of annotated abstracts: mean and sd of `metric` over repeats."""
    out: Dict[str, List[dict]] = {}
    for strategy in dict.fromkeys(p.strategy for p in points):
        rows = []
        for n in sorted({p.n_labelled for p in points if p.strategy == strategy}):
            values = [p.scores[metric] for p in points if p.strategy == strategy and p.n_labelled == n]
            rows.append({"n_labelled": n, "mean": float(numpy.mean(values)), "repeats": len(values),
                         "sd": float(numpy.std(values, ddof=1)) if len(values) > 1 else 0.0})
        out[strategy] = rows
    return out


def goal(curve: Dict[str, List[dict]], full_pool_f: float, pool_size: int, baseline: str = "random") -> Dict[str, dict]:
    """The issue's goal per strategy: the fewest abstracts at which its mean F reaches
    `full_pool_f` (the baseline's F on the whole pool; None: never within the rounds run) as a
    fraction of the pool, and its F minus the baseline's at the size nearest 40% of the pool
    (None when that size was not run for both). Met: reached at <= 70%, or >= 2 F ahead at 40%."""
    result: Dict[str, dict] = {}
    base = {r["n_labelled"]: r["mean"] for r in curve.get(baseline, [])}
    for strategy, rows in curve.items():
        reached = next((r["n_labelled"] for r in rows if r["mean"] >= full_pool_f), None)
        share = reached / pool_size if reached is not None else None
        common = [r for r in rows if r["n_labelled"] in base]
        at40 = min(common, key=lambda r: abs(r["n_labelled"] - 0.4 * pool_size)) if common else None
        gain = at40["mean"] - base[at40["n_labelled"]] if at40 else None
        result[strategy] = {"reached_at": reached, "reached_share": share,
                            "at_40": at40["n_labelled"] if at40 else None, "gain_at_40": gain,
                            "met": bool((share is not None and share <= 0.7) or (gain is not None and gain >= 2.0))}
    return result


def markdown_table(curve: Dict[str, List[dict]], metric: str = "entities") -> str:
    """Abstracts annotated against each strategy's mean ± sd `metric` F."""
    strategies = list(curve)
    sizes = sorted({r["n_labelled"] for rows in curve.values() for r in rows})
    lines = ["| abstracts annotated | " + " | ".join(f"{s} {metric} F" for s in strategies) + " |",
             "| ---: | " + " | ".join("---:" for _ in strategies) + " |"]
    for n in sizes:
        cells = []
        for s in strategies:
            row = next((r for r in curve[s] if r["n_labelled"] == n), None)
            cells.append("-" if row is None else f"{row['mean']:.1f} ± {row['sd']:.1f} ({row['repeats']})")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(curve: Dict[str, List[dict]], path: Path, full_pool_f: Optional[float] = None, metric: str = "entities") -> None:
    """Each strategy's mean ± sd curve, and the full-pool F as a line, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fgen.util.figures import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, rows in curve.items():
        ax.errorbar([r["n_labelled"] for r in rows], [r["mean"] for r in rows], yerr=[r["sd"] for r in rows],
                    marker="o", capsize=3, label=strategy)
    if full_pool_f is not None:
        ax.axhline(full_pool_f, color="grey", linestyle="--", label="random, whole pool")
    ax.set_xlabel("abstracts annotated")
    ax.set_ylabel(f"{metric} F (%) on the test part")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def points_json(points: Sequence[RoundPoint]) -> List[dict]:
    """The points as JSON-ready dicts."""
    return [asdict(p) for p in points]
