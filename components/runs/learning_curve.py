"""Learning curve: scores against the number of training abstracts (issue 31, item 1).

For each fold of `scripts/split.py`'s k-fold split, the fold's training part is shuffled once
(seeded) and every fraction trains on a prefix of that order, so the subsets are nested: a
larger fraction only adds abstracts. Each model is scored on the fold's test part with
`fgen.scoring.evaluation.evaluate_docs`. The trend is a least-squares fit of
F = a + b * ln(n) to the mean F per size: two parameters, so it stays defined with few sizes
(a saturating power law needs more points than a time-boxed run gives), and it predicts what
+100 / +300 abstracts would bring if the curve keeps its slope (an optimistic bound when it bends).

Training and scoring are passed in (`Trainer`, `Scorer`: `fgen.runs.subset_training`), so the loop is tested with a fake
trainer and the script decides the recipe.
"""
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc, DocBin

from fgen.runs.subset_training import Scorer, Trainer

# The four headline scores: entities, values, statements (all four members exact), words.
METRICS: Dict[str, str] = {
    "entities": "ents_f",
    "values": "values_f",
    "statements": "links_f",
    "words": "words_category_f",
}


@dataclass
class CurvePoint:
    """One trained model: its fold, fraction, number of training abstracts and scores (0-100)."""

    fold: int
    fraction: float
    n_train: int
    scores: Dict[str, float]
    seconds: float = 0.0


def nested_subsets(n_docs: int, fractions: Sequence[float], seed: int) -> Dict[float, List[int]]:
    """Doc indices for each fraction: prefixes of one seeded order, so each subset holds the
    smaller ones. At least one doc per fraction; indices are returned sorted (input order).

    RAISES (ValueError): a fraction outside (0, 1], or no docs.
    """
    if n_docs < 1:
        raise ValueError("no training docs")
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ValueError(f"fractions must be in (0, 1], got {bad}")
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    return {f: sorted(order[:max(1, round(f * n_docs))]) for f in fractions}


def headline_scores(scores: Dict[str, float]) -> Dict[str, float]:
    """`METRICS` of an `evaluate_docs` result, in % (a score the pipeline lacks: 0)."""
    return {name: 100.0 * float(scores.get(key) or 0.0) for name, key in METRICS.items()}


def run_curve(
    folds: Sequence[Tuple[Sequence[Doc], Sequence[Doc]]],
    fractions: Sequence[float],
    workdir: Path,
    train: Trainer,
    score: Scorer,
    seed: int = 0,
    on_point: Optional[Callable[[CurvePoint], None]] = None,
    fold_ids: Optional[Sequence[int]] = None,
    done: Sequence[CurvePoint] = (),
) -> List[CurvePoint]:
    """Train and score every (fold, fraction), smallest fraction first within a fold.

    folds (Sequence[Tuple[Sequence[Doc], Sequence[Doc]]]): (training docs, test docs) per fold.
    workdir (Path): subsets and runs go to `workdir/fold{k}/{percent}`.
    seed (int): the subsets' order (fold k uses seed + k).
    fold_ids (Optional[Sequence[int]]): the folds' numbers (default 0, 1, ...), for names and seeds.
    on_point (Optional[Callable[[CurvePoint], None]]): called as each point is done (progress,
        saving partial results), also for the points of `done`.
    done (Sequence[CurvePoint]): points of an earlier run (its points.json) that are not trained
        again (a resumed run: the subsets are the same, they follow the seed).
    """
    earlier = {(p.fold, p.fraction): p for p in done}
    points: List[CurvePoint] = []
    for i, (train_docs, test_docs) in enumerate(folds):
        k = fold_ids[i] if fold_ids is not None else i
        subsets = nested_subsets(len(train_docs), fractions, seed + k)
        for fraction in sorted(fractions):
            if (k, fraction) in earlier:
                points.append(earlier[(k, fraction)])
                if on_point is not None:
                    on_point(points[-1])
                continue
            run_dir = workdir / f"fold{k}" / f"{round(100 * fraction)}"
            run_dir.mkdir(parents=True, exist_ok=True)
            train_path = run_dir / "train.spacy"
            DocBin(docs=[train_docs[i] for i in subsets[fraction]], store_user_data=True).to_disk(train_path)
            start = time.monotonic()
            model = train(train_path, run_dir)
            point = CurvePoint(k, fraction, len(subsets[fraction]), headline_scores(score(model, test_docs)),
                               time.monotonic() - start)
            points.append(point)
            if on_point is not None:
                on_point(point)
    return points


@dataclass
class Trend:
    """F = a + b * ln(n), fitted to the mean F per training size."""

    a: float
    b: float

    def predict(self, n: float) -> float:
        return self.a + self.b * math.log(n)


def fit_trend(sizes: Sequence[float], values: Sequence[float]) -> Optional[Trend]:
    """The least-squares log fit; None with fewer than two distinct sizes."""
    if len(set(sizes)) < 2:
        return None
    b, a = numpy.polyfit(numpy.log(numpy.asarray(sizes, dtype=float)), numpy.asarray(values, dtype=float), 1)
    return Trend(float(a), float(b))


def summarise(points: Sequence[CurvePoint]) -> List[dict]:
    """Per fraction: mean training size, and mean and standard deviation of each metric over folds."""
    rows = []
    for fraction in sorted({p.fraction for p in points}):
        group = [p for p in points if p.fraction == fraction]
        row = {"fraction": fraction, "n_train": float(numpy.mean([p.n_train for p in group])), "folds": len(group)}
        for name in METRICS:
            values = [p.scores[name] for p in group]
            row[name] = float(numpy.mean(values))
            row[f"{name}_sd"] = float(numpy.std(values, ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def trends(rows: Sequence[dict]) -> Dict[str, Optional[Trend]]:
    """The log fit of each metric over `summarise`'s rows."""
    return {name: fit_trend([r["n_train"] for r in rows], [r[name] for r in rows]) for name in METRICS}


def markdown_table(rows: Sequence[dict], fitted: Dict[str, Optional[Trend]], added: Sequence[int] = (100, 300),
                   base: Optional[float] = None) -> str:
    """The curve as a Markdown table, then each fit and its predictions at `base` training
    abstracts (default: the largest size measured; e.g. a whole training part when its largest
    fraction did not run) and at `added` abstracts more."""
    names = list(METRICS)
    lines = ["| training abstracts | fraction | folds | " + " | ".join(f"{n} F" for n in names) + " |",
             "| ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for r in rows:
        cells = [f"{r[n]:.1f} ± {r[n + '_sd']:.1f}" if r["folds"] > 1 else f"{r[n]:.1f}" for n in names]
        lines.append(f"| {r['n_train']:.0f} | {100 * r['fraction']:.0f}% | {r['folds']} | " + " | ".join(cells) + " |")
    if rows:
        largest = max(r["n_train"] for r in rows) if base is None else base
        sizes = [0, *added]
        lines += ["", "| fit F = a + b·ln(n) | a | b | " + " | ".join(f"at {largest + d:.0f}" + (f" (+{d})" if d else "")
                                                               for d in sizes) + " |",
                  "| --- | ---: | ---: | " + " | ".join("---:" for _ in sizes) + " |"]
        for name in names:
            trend = fitted.get(name)
            if trend is None:
                continue
            lines.append(f"| {name} | {trend.a:.1f} | {trend.b:.2f} | "
                         + " | ".join(f"{trend.predict(largest + d):.1f}" for d in sizes) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict], fitted: Dict[str, Optional[Trend]], path: Path, added: Sequence[int] = (100, 300),
         base: Optional[float] = None) -> None:
    """The curve (mean ± sd per size), its fits, extended to `base` (default: the largest size)
    + max(`added`), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fgen.util.figures import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = [r["n_train"] for r in rows]
    anchor = max(sizes) if base is None else base
    end = anchor + max(added, default=0)
    xs = numpy.linspace(min(sizes), end, 100)
    for name in METRICS:
        line = ax.errorbar(sizes, [r[name] for r in rows], yerr=[r[name + "_sd"] for r in rows],
                           marker="o", capsize=3, label=f"{name} F")
        trend = fitted.get(name)
        if trend is not None:
            ax.plot(xs, [trend.predict(x) for x in xs], linestyle="--", color=line[0].get_color(), alpha=0.7)
    ax.axvline(anchor, color="grey", linewidth=0.8)
    ax.set_xlabel("training abstracts")
    ax.set_ylabel("F (%) on the fold's test part")
    ax.set_title("Learning curve (dashed: a + b·ln n, extended by +%d)" % max(added, default=0))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def points_json(points: Sequence[CurvePoint]) -> List[dict]:
    """The points as JSON-ready dicts."""
    return [asdict(p) for p in points]
