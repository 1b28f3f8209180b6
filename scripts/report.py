"""Report on training runs and cross-validation results, side by side: markdown + PNG plots.

    python scripts/report.py RUN... --output DIR [--history training/runs.jsonl] [--title TITLE] \
        [--data corpus/v2/dev.spacy]

Each RUN is a run folder (the `spacy train --output` folder: log.jsonl from fgen.run_logger.v1
and/or model-best/meta.json), a run name in the run history (`scripts/runs.py list`), or a
cross-validation results.json of scripts/benchmark_ner.py or scripts/benchmark_links.py (or the
folder holding it). DIR gets report.md and its images:
- losses.png: loss per component over the steps, one line per run;
- scores.png: score, ents_f, values_f, links_f at every evaluation;
- categories.png: F per category (ents_per_type, values_per_type) at every evaluation;
- tables: runs, overall P/R/F at the best and final evaluation, per-category P/R/F at the best;
- with --data: the value confusion of each run's model-best on that gold DocBin
  (confusion_<run>.png), over the predicted entities whose span and label match a gold one;
- per results.json: mean ± std over folds per system, the main F per fold, cv_<n>.png.
Every file is written atomically. `--history` defaults to $FGEN_RUN_HISTORY when set.
"""
import re
import statistics
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import spacy  # noqa: E402
import typer  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402

from fgen.util.atomic import write_bytes_atomic  # noqa: E402
from fgen.util.console import msg  # noqa: E402
from fgen.util.figures import save_figure  # noqa: E402
from fgen.runs.run_logger import DEFAULT_HISTORY, HISTORY_ENV, read_history  # noqa: E402
from fgen.runs.run_report import (  # noqa: E402
    CURVE_METRICS, PER_TYPE, CVResults, Run, confusion_table, cv_fold_table, cv_main_metric, cv_table, load_input,
    per_type_table, runs_table, scores_table, unique_names, value_confusion,
)

app = typer.Typer(add_completion=False)
Series = Dict[str, List[Tuple[int, float]]]  # run name -> (step, value)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "run"


def series(runs: Sequence[Run], get: Callable[[dict], Optional[float]]) -> Series:
    """Per run, (step, value) of every logged evaluation where `get` finds a number."""
    out: Series = {}
    for run in runs:
        points = [(s["step"], get(s)) for s in run.steps if isinstance(get(s), (int, float))]
        if points:
            out[run.name] = points
    return out


def plot_panels(panels: List[Tuple[str, Series]], ylabel: str, path: Path, ncols: int = 2) -> bool:
    """One subplot per (title, series), one line per run, a shared legend; False if nothing to plot."""
    panels = [(t, s) for t, s in panels if s]
    if not panels:
        return False
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 3.4 * nrows), squeeze=False)
    names = sorted({name for _, s in panels for name in s})
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}
    for ax, (title, data) in zip(axes.flat, panels):
        for name, points in data.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=name, color=colors[name])
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colors[n], marker=".", label=n) for n in names]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(names)), bbox_to_anchor=(0.5, -0.02 - 0.04 * (len(names) // 4)))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path)
    return True


def plot_losses(runs: Sequence[Run], path: Path) -> bool:
    components = sorted({c for run in runs for s in run.steps for c in (s.get("losses") or {})})
    panels = [(c, series(runs, lambda s, c=c: (s.get("losses") or {}).get(c))) for c in components]
    return plot_panels(panels, "loss since last evaluation", path)


def plot_scores(runs: Sequence[Run], path: Path) -> bool:
    panels = [("score (weighted)", series(runs, lambda s: _pct(s.get("score"))))]
    panels += [(key, series(runs, lambda s, k=key: _pct((s.get("scores") or {}).get(k)))) for key in CURVE_METRICS]
    return plot_panels(panels, "%", path)


def plot_categories(runs: Sequence[Run], path: Path) -> bool:
    panels = []
    for key, title in PER_TYPE:
        labels = sorted({lab for run in runs for s in run.steps for lab in ((s.get("scores") or {}).get(key) or {})})
        for label in labels:
            get = lambda s, k=key, lab=label: _pct((((s.get("scores") or {}).get(k) or {}).get(lab) or {}).get("f"))  # noqa: E731
            panels.append((f"{title}: {label} F", series(runs, get)))
    return plot_panels(panels, "F %", path, ncols=4)


def _pct(value) -> Optional[float]:
    return 100 * value if isinstance(value, (int, float)) else None


def plot_confusion(confusion: Dict[str, Counter], title: str, path: Path) -> None:
    """One heat map per category: gold values (rows) against predicted values (columns)."""
    labels = sorted(confusion)
    # Panels grow with the number of values (V2 phenotypes have dozens), two per row.
    side = max(4.5, 0.22 * max(len({v for pair in c for v in pair}) for c in confusion.values()))
    ncols = min(2, len(labels))
    nrows = -(-len(labels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols + 1.5, side * nrows + 1.0), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        counts = confusion[label]
        values = sorted({v for pair in counts for v in pair})
        grid = [[counts.get((g, p), 0) for p in values] for g in values]
        top = max(max(row) for row in grid)
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(top, 1))
        ax.set_xticks(range(len(values)), values, rotation=90, fontsize=7)
        ax.set_yticks(range(len(values)), values, fontsize=7)
        for i, row in enumerate(grid):
            for j, n in enumerate(row):
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color="white" if n > top / 2 else "black")
        ax.set_title(label)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_cv(cv: CVResults, path: Path) -> None:
    """The main F per system: mean over folds with the std as error bar, and each fold as a dot."""
    key = cv_main_metric(cv)
    groups = list(cv.folds)
    values = [[100 * m[key] for _, m in cv.folds[g] if isinstance(m.get(key), (int, float))] for g in groups]
    means = [statistics.mean(v) if v else 0.0 for v in values]
    stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(groups)), 3.8))
    ax.bar(range(len(groups)), means, yerr=stds, capsize=4, color="tab:blue", alpha=0.6)
    for i, v in enumerate(values):
        ax.plot([i] * len(v), v, "k.", alpha=0.7)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set_ylabel(f"{key} (%)")
    ax.set_title(f"{cv.name}: {key}, mean ± std over folds")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def curves_section(runs: Sequence[Run], out: Path) -> List[str]:
    lines = ["## Training curves", ""]
    logged = [run for run in runs if run.steps]
    if not logged:
        return lines + ["No run has a log.jsonl (fgen.run_logger.v1), so there are no curves.", ""]
    missing = [run.name for run in runs if not run.steps]
    if missing:
        lines += [f"Without a log (no curves): {', '.join(missing)}.", ""]
    for name, plot, caption in (("losses.png", plot_losses, "Loss per component (summed since the previous evaluation)"),
                                ("scores.png", plot_scores, "Scores at every evaluation"),
                                ("categories.png", plot_categories, "F per category at every evaluation")):
        if plot(logged, out / name):
            lines += [f"{caption}:", "", f"![{caption}]({name})", ""]
    return lines


def per_type_section(runs: Sequence[Run]) -> List[str]:
    lines = ["## Per category (best evaluation)", ""]
    for key, title in PER_TYPE:
        table = per_type_table(runs, key)
        if table:
            lines += [f"### {title} (`{key}`)", "", *table, ""]
    return lines


def confusion_section(runs: Sequence[Run], data: Path, out: Path) -> List[str]:
    """Value confusion of every run with a model; runs without one, or a model that fails, are skipped."""
    lines = [f"## Value confusion on `{data}`", "",
             "Predicted entities whose span and label match a gold entity: gold value against predicted value.", ""]
    for run in runs:
        model = run.model()
        if model is None:
            lines += [f"- {run.name}: no model-best or model-last, skipped", ""]
            continue
        try:
            nlp = spacy.load(model)
            gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
            confusion = value_confusion(nlp, gold)
        except Exception as err:  # an optional section: report why and go on
            msg.warn(f"{run.name}: no value confusion ({type(err).__name__}: {err})")
            lines += [f"- {run.name}: skipped ({type(err).__name__}: {err})", ""]
            continue
        lines += [f"### {run.name} (`{model}`)", ""]
        if not confusion:
            lines += ["No predicted entity matches a gold one.", ""]
            continue
        image = f"confusion_{slug(run.name)}.png"
        plot_confusion(confusion, run.name, out / image)
        lines += confusion_table(confusion) + ["", f"![value confusion of {run.name}]({image})", ""]
    return lines


def cv_section(cv: CVResults, index: int, out: Path) -> List[str]:
    image = f"cv_{index}.png"
    plot_cv(cv, out / image)
    what = "statements on the link-annotated folds" if cv.kind == "links" else "entities and values"
    lines = [f"## Cross-validation: {cv.name} ({what})", "", "Mean ± std over folds; scores in %.", "", *cv_table(cv), ""]
    per_type = cv_table(cv, per_type=True)
    if per_type:
        lines += ["F per category, mean ± std over folds:", "", *per_type, ""]
    return lines + [f"`{cv_main_metric(cv)}` per fold:", "", *cv_fold_table(cv), "", f"![{cv.name}]({image})", ""]


def build_report(runs: List[Run], cvs: List[CVResults], out: Path, title: str, data: Optional[Path]) -> str:
    """Write the images into `out` and return the markdown."""
    command = "python scripts/report.py " + " ".join(sys.argv[1:])
    lines = [f"# {title}", "", f"`{command}` — {date.today().isoformat()}. Scores in %.", ""]
    if runs:
        lines += ["## Runs", "", *runs_table(runs), "", "## Scores", "",
                  "Best: the evaluation with the highest weighted score (model-best); final: the last one.", "",
                  *scores_table(runs), ""]
        lines += curves_section(runs, out) + per_type_section(runs)
        if data is not None:
            lines += confusion_section(runs, data, out)
    for i, cv in enumerate(cvs, 1):
        lines += cv_section(cv, i, out)
    return "\n".join(lines).rstrip("\n") + "\n"


@app.command()
def main(
    inputs: List[str] = typer.Argument(..., metavar="RUN...", help="Run folders, run names in the history, or CV results.json files"),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for report.md and its PNG images"),
    history: Path = typer.Option(Path(DEFAULT_HISTORY), "--history", envvar=HISTORY_ENV, help="Run history (JSON lines) to resolve run names"),
    title: str = typer.Option("Training report", "--title", help="Title of the report"),
    data: Optional[Path] = typer.Option(None, "--data", help="Gold DocBin (e.g. corpus/v2/dev.spacy) for the value confusion of each run's model"),
) -> None:
    """Compare training runs and cross-validation results in one markdown report with plots."""
    records = read_history(history)
    runs: List[Run] = []
    cvs: List[CVResults] = []
    for spec in inputs:
        try:
            item = load_input(spec, records)
        except (ValueError, OSError) as err:
            msg.fail(str(err), exits=1)
        (cvs if isinstance(item, CVResults) else runs).append(item)
    unique_names(runs)
    if data is not None and not data.is_file():
        msg.warn(f"{data}: no such file, no value confusion")
        data = None
    report = build_report(runs, cvs, output, title, data)
    write_bytes_atomic(output / "report.md", report.encode("utf8"))
    msg.good(f"Wrote {output / 'report.md'} ({len(runs)} run(s), {len(cvs)} CV result(s))")


if __name__ == "__main__":
    app()
