"""What scripts/report.py reports, without plotting: training runs (run folders, run-history
records) and cross-validation results (scripts/benchmark_ner.py, scripts/benchmark_links.py)
loaded into one shape, markdown tables comparing them, and the value confusion of a model.

A run folder is the `spacy train --output` folder: log.jsonl (fgen.run_logger.v1) for the
curves, model-best/meta.json (spaCy) for the best scores when there is no log.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import load_config

from fgen.runs.benchmarking import mean_std
from fgen.doc_layout import entity_spans
from fgen.util.markdown import md_table
from fgen.runs.run_logger import LOG_NAME, best_step, checkpoint_view, encoder_name, find_run, flatten_scores, read_jsonl

# Overall metrics in the order the report shows them: (key, column title).
MAIN_METRICS = (
    ("ents_p", "ents P"), ("ents_r", "ents R"), ("ents_f", "ents F"),
    ("values_p", "values P"), ("values_r", "values R"), ("values_f", "values F"), ("values_acc", "value acc"),
    ("links_p", "links P"), ("links_r", "links R"), ("links_f", "links F"),
    ("link_pairs_f", "pairs F"), ("links_partial_f", "partial F"), ("link_only_f", "link_only F"),
)
CURVE_METRICS = ("ents_f", "values_f", "links_f")
PER_TYPE = (("ents_per_type", "Entities"), ("values_per_type", "Values"))


@dataclass
class Run:
    """One training run: its history record (if any), logged evaluations and checkpoints' scores.

    best / final: {"step", "epoch", "score", "scores"} (step/epoch None when read from meta.json).
    """

    name: str
    run_dir: Optional[Path] = None
    record: Dict[str, Any] = field(default_factory=dict)
    steps: List[Dict[str, Any]] = field(default_factory=list)
    best: Optional[Dict[str, Any]] = None
    final: Optional[Dict[str, Any]] = None

    def model(self) -> Optional[Path]:
        """model-best, else model-last, of the run folder."""
        for name in ("model-best", "model-last"):
            if self.run_dir is not None and (self.run_dir / name / "meta.json").exists():
                return self.run_dir / name
        return None


@dataclass
class CVResults:
    """Cross-validation results: per group (system), the metrics of every fold."""

    name: str
    kind: str  # "ner" or "links"
    folds: Dict[str, List[Tuple[int, Dict[str, float]]]]


def is_cv_results(data: Any) -> bool:
    """Whether `data` is a results.json of scripts/benchmark_ner.py or scripts/benchmark_links.py."""
    return isinstance(data, list) and bool(data) and all(isinstance(r, dict) and "fold" in r and "scores" in r for r in data)


def _checkpoint(scores: Dict[str, Any]) -> Dict[str, Any]:
    return {"step": None, "epoch": None, "score": None, "scores": flatten_scores(scores)}


def _meta_scores(model: Path) -> Optional[Dict[str, Any]]:
    meta = model / "meta.json"
    if not meta.exists():
        return None
    performance = json.loads(meta.read_text(encoding="utf8")).get("performance") or {}
    return _checkpoint(performance)


def _config_encoder(model: Path) -> Optional[str]:
    try:
        return encoder_name(load_config(model / "config.cfg", interpolate=True))
    except Exception:  # no or unreadable config: the encoder stays unknown
        return None


def run_from_dir(run_dir: Path, record: Optional[Dict[str, Any]] = None) -> Run:
    """A run from its folder (log.jsonl, model-best, model-last) and its history record."""
    record = dict(record or {})
    steps = read_jsonl(run_dir / LOG_NAME)
    run = Run(name=record.get("name") or run_dir.name, run_dir=run_dir, record=record, steps=steps)
    # The history record, else the log, else spaCy's meta.json (scores only, no step).
    run.best = record.get("best") or checkpoint_view(best_step(steps)) or _meta_scores(run_dir / "model-best")
    run.final = record.get("final") or checkpoint_view(steps[-1] if steps else None) or _meta_scores(run_dir / "model-last")
    if "encoder" not in record and run.model() is not None:
        encoder = _config_encoder(run.model())
        if encoder:
            record["encoder"] = encoder
    return run


def run_from_record(record: Dict[str, Any]) -> Run:
    """A run from its history record; its folder adds the curves when it still exists."""
    run_dir = Path(record["run_dir"]) if record.get("run_dir") else None
    if run_dir is not None and run_dir.is_dir():
        return run_from_dir(run_dir, record)
    return Run(name=record.get("name", "?"), record=record, best=record.get("best"), final=record.get("final"))


def cv_from_results(name: str, results: List[Dict[str, Any]]) -> CVResults:
    """Group the folds of a benchmark's results.json by system (and entities, for links)."""
    folds: Dict[str, List[Tuple[int, Dict[str, float]]]] = {}
    links = all(isinstance(r["scores"], dict) and "gold" in r["scores"] and "predicted" in r["scores"] for r in results)
    for res in results:
        timing = {k: res[k] for k in ("seconds_per_epoch", "words_per_second") if isinstance(res.get(k), (int, float))}
        if links:
            for entities, systems in res["scores"].items():
                for system, scores in systems.items():
                    folds.setdefault(f"{system}, {entities} entities", []).append((res["fold"], {**_metrics(scores), **timing}))
        else:
            group = f"{res.get('system', 'run')} ({res.get('encoder', '?')})" if "system" in res else name
            folds.setdefault(group, []).append((res["fold"], {**_metrics(res["scores"]), **timing}))
    return CVResults(name=name, kind="links" if links else "ner", folds=folds)


def _metrics(scores: Dict[str, Any]) -> Dict[str, float]:
    """Flat metrics of one fold: overall numbers plus `<prefix> F <LABEL>` per type."""
    flat = flatten_scores(scores)
    out = {k: v for k, v in flat.items() if not isinstance(v, dict)}
    for key, _ in PER_TYPE:
        for label, prf in (flat.get(key) or {}).items():
            if isinstance(prf, dict) and "f" in prf:
                out[f"{key.split('_')[0]} F {label}"] = prf["f"]
    return out


def load_input(spec: str, history: List[Dict[str, Any]]):
    """A run folder, a CV results.json (or a folder holding one and no run), or a run name.

    spec (str): what the user named.
    history (List[Dict[str, Any]]): the run history's records.
    RETURNS (Run or CVResults): what `spec` names.
    RAISES ValueError: when it names none of these.
    """
    path = Path(spec)
    if path.is_dir() and not _is_run_dir(path) and (path / "results.json").exists():
        path = path / "results.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf8"))
        if not is_cv_results(data):
            raise ValueError(f"{spec}: not a results.json of scripts/benchmark_ner.py or scripts/benchmark_links.py")
        return cv_from_results(_cv_name(path), data)
    if path.is_dir():
        if not _is_run_dir(path):
            raise ValueError(f"{spec}: no {LOG_NAME}, model-best or model-last in this folder")
        return run_from_dir(path, find_run(history, str(path)))
    record = find_run(history, spec)
    if record is None:
        raise ValueError(f"{spec}: not a run folder, a results.json or a run name in the history")
    return run_from_record(record)


def _is_run_dir(path: Path) -> bool:
    return (path / LOG_NAME).exists() or any((path / m / "meta.json").exists() for m in ("model-best", "model-last"))


def _cv_name(path: Path) -> str:
    return path.parent.name if path.name == "results.json" else path.stem


def unique_names(runs: Sequence[Run]) -> None:
    """Make run names unique (e.g. two "fold0" folders) by adding parent folders, then a number."""
    counts = Counter(r.name for r in runs)
    for run in runs:
        if counts[run.name] > 1 and run.run_dir is not None:
            run.name = f"{run.run_dir.parent.name}/{run.run_dir.name}"
    seen: Counter = Counter()
    for run in runs:
        seen[run.name] += 1
        if seen[run.name] > 1:
            run.name = f"{run.name} ({seen[run.name]})"


# ---------------------------------------------------------------- markdown


def pct(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{100 * value:.1f}"


def runs_table(runs: Sequence[Run]) -> List[str]:
    """One row per run: what was trained on what, how long, its best score."""
    header = ["run", "status", "encoder", "pipeline", "train", "dev", "steps", "seconds", "best step", "best score"]
    rows = []
    for run in runs:
        rec, best = run.record, run.best or {}
        paths = rec.get("paths") or {}
        # Updates made (steps 0..n); without a record, known up to the last evaluation.
        steps = rec.get("steps", run.steps[-1]["step"] + 1 if run.steps else "-")
        rows.append([run.name, rec.get("status", "-"), rec.get("encoder", "-"), " ".join(rec.get("pipeline") or []) or "-",
                     paths.get("train") or "-", paths.get("dev") or "-", steps, rec.get("seconds", "-"),
                     "-" if best.get("step") is None else best["step"], pct(best.get("score"))])
    return md_table(header, rows)


def scores_table(runs: Sequence[Run]) -> List[str]:
    """Overall P/R/F of every run at its best and final evaluation (metrics no run has are left out)."""
    rows_in = [(run.name, which, ck) for run in runs for which, ck in (("best", run.best), ("final", run.final)) if ck]
    keys = [(k, t) for k, t in MAIN_METRICS if any(k in ck["scores"] for _, _, ck in rows_in)]
    header = ["run", "checkpoint", "step", "score", *[t for _, t in keys]]
    rows = [[name, which, "-" if ck.get("step") is None else ck["step"], pct(ck.get("score")),
             *[pct(ck["scores"].get(k)) for k, _ in keys]] for name, which, ck in rows_in]
    return md_table(header, rows)


def per_type_table(runs: Sequence[Run], key: str) -> List[str]:
    """Per label P/R/F of `key` (ents_per_type, values_per_type) at each run's best evaluation:
    the rows of one label are together, so the runs compare line by line."""
    labels = sorted({lab for run in runs if run.best for lab in (run.best["scores"].get(key) or {})})
    rows = []
    for label in labels:
        for run in runs:
            prf = ((run.best or {}).get("scores", {}).get(key) or {}).get(label)
            if isinstance(prf, dict):
                rows.append([label, run.name, pct(prf.get("p")), pct(prf.get("r")), pct(prf.get("f"))])
    return md_table(["category", "run", "P", "R", "F"], rows) if rows else []


TIMING = (("seconds_per_epoch", "s/epoch"), ("words_per_second", "words/s"))


def cv_metric_keys(cv: CVResults, per_type: bool = False) -> List[Tuple[str, str]]:
    """(metric, column title) of a CV table: main scores then timing, or the per-type F."""
    present = {k for folds in cv.folds.values() for _, m in folds for k in m}
    if per_type:
        return [(k, k) for k in sorted(present) if " F " in k]
    # The original project's word-level F (scripts/evaluate.py), the category head first.
    words = sorted((k for k in present if k.startswith("words_") and k.endswith("_f")), key=lambda k: (k != "words_category_f", k))
    keys = [(k, t) for k, t in MAIN_METRICS if k in present] + [(k, f"words {k[6:-2]} F") for k in words]
    return keys + [(k, t) for k, t in TIMING if k in present]


def cv_table(cv: CVResults, per_type: bool = False) -> List[str]:
    """Mean ± std over folds, one row per system: overall scores and timing, or F per category."""
    keys = cv_metric_keys(cv, per_type)
    if not keys:
        return []
    timing = {k for k, _ in TIMING}
    rows = []
    for group, folds in cv.folds.items():
        cells = [mean_std([m.get(k) for _, m in folds], *((1.0, 0) if k in timing else ())) for k, _ in keys]
        rows.append([group, len(folds), *cells])
    return md_table(["system", "folds", *[t for _, t in keys]], rows)


def cv_main_metric(cv: CVResults) -> str:
    return "links_f" if cv.kind == "links" else "ents_f"


def cv_fold_table(cv: CVResults) -> List[str]:
    """The main F of every system on every fold."""
    key = cv_main_metric(cv)
    fold_ids = sorted({k for folds in cv.folds.values() for k, _ in folds})
    rows = []
    for group, folds in cv.folds.items():
        by_fold = {k: m.get(key) for k, m in folds}
        rows.append([group, *[pct(by_fold.get(k)) for k in fold_ids], mean_std(by_fold.values())])
    return md_table(["system", *[f"fold {k}" for k in fold_ids], "mean ± std"], rows)


# ---------------------------------------------------------------- value confusion


def value_confusion(nlp: Language, gold_docs: Sequence[Doc]) -> Dict[str, Counter]:
    """Per category, counts of (gold value, predicted value) over the predicted entities whose
    span and label match a gold entity: what the value component confuses, end to end.

    nlp (Language): a trained pipeline with entity and value components.
    gold_docs (Sequence[Doc]): gold docs; the pipeline runs over their texts.
    RETURNS (Dict[str, Counter]): category → Counter of (gold kb_id, predicted kb_id).
    """
    from fgen.scoring.evaluation import predict_examples

    confusion: Dict[str, Counter] = {}
    for eg in predict_examples(nlp, gold_docs):
        gold = {(s.start_char, s.end_char, s.label_): s.kb_id_ for s in entity_spans(eg.reference)}
        for span in entity_spans(eg.predicted):
            key = (span.start_char, span.end_char, span.label_)
            if key in gold:
                confusion.setdefault(span.label_, Counter())[(gold[key], span.kb_id_)] += 1
    return confusion


def confusion_table(confusion: Dict[str, Counter], top: int = 10) -> List[str]:
    """Accuracy per category and its most frequent confusions."""
    rows = []
    for label, counts in sorted(confusion.items()):
        total = sum(counts.values())
        correct = sum(n for (g, p), n in counts.items() if g == p)
        errors = sorted(((n, g, p) for (g, p), n in counts.items() if g != p), reverse=True)[:top]
        worst = ", ".join(f"{g} → {p} ({n})" for n, g, p in errors) or "-"
        rows.append([label, total, pct(correct / total if total else None), worst])
    return md_table(["category", "matched entities", "value acc", f"most frequent confusions (gold → predicted, top {top})"], rows)


__all__ = ["Run", "CVResults", "load_input", "run_from_dir", "run_from_record", "cv_from_results", "is_cv_results",
           "unique_names", "runs_table", "scores_table", "per_type_table", "cv_table", "cv_fold_table", "cv_metric_keys",
           "cv_main_metric", "value_confusion", "confusion_table", "pct", "CURVE_METRICS", "PER_TYPE"]
