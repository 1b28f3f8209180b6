"""Cross-validated NER + values benchmark: fgen_ner (CRF, softmax) vs spaCy's ner and spancat.

    python scripts/benchmark_ner.py corpus/v2/folds --systems crf,softmax,ner,spancat \
        --encoders cnn,trf --folds 0,1,2,3,4 --epochs 15 --output training/benchmark \
        --report docs/benchmarks.md --definitions assets/fgen-corpus

Every system trains on `folds/train{k}.spacy` for a fixed number of epochs and is scored on
`folds/fold{k}.spacy` with its last model (no model selection on the test fold). All systems
share the encoder config (`--encoders`: cnn = configs/ner_cnn.cfg, trf = configs/ner.cfg,
features = configs/pipeline_features.cfg, which also trains fgen_links so that whole statements
are scored end to end) and the fgen_values component, so the rows differ only in how entities
are found:
- crf: fgen_ner with its CRF; softmax: fgen_ner with `use_crf = false`;
- ner: spaCy's transition-based `ner`;
- spancat: spaCy's `spancat_singlelabel` (no overlaps; n-grams of 1-10 tokens, which cover
  98.7% of the V2 entities) writing `doc.spans["fgen"]`.
Entity scores are computed the same way for all: exact spans of `doc.spans["fgen"]` (else
`doc.ents`) against gold. Speed: `nlp.pipe` over the fold's texts after a warm-up pass.
"""
import copy
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Sequence

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from spacy.util import load_config

import fgen  # noqa: F401
from fgen.util.atomic import write_bytes_atomic
from fgen.runs.benchmarking import carve_dev, machine, mean_std, train_run, update_report, words_per_second
from fgen.util.console import msg
from fgen.util.markdown import md_table
from fgen.scoring.evaluation import evaluate_docs
from fgen.scoring.word_scores import scored_heads

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIGS = {
    "cnn": REPO / "configs" / "ner_cnn.cfg",
    "trf": REPO / "configs" / "ner.cfg",
    # Frozen encoder features + BiLSTM, with fgen_links: statements are scored end to end too.
    "features": REPO / "configs" / "pipeline_features.cfg",
}
SYSTEMS = ("crf", "softmax", "ner", "spancat")


def report_marks(encoders: str) -> tuple:
    """Markers of the report section for one encoder set (each set keeps its own section)."""
    tag = "ner-benchmark" if encoders == "cnn" else f"ner-benchmark-{encoders.replace(',', '-')}"
    return f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"

app = typer.Typer(add_completion=False)


def _listener(cfg) -> Dict[str, Any]:
    return copy.deepcopy(dict(cfg["components"]["fgen_ner"]["model"]["tok2vec"]))


def _swap_ner(cfg, name: str, component: Dict[str, Any]) -> None:
    """Replace fgen_ner by another entity component under `name`."""
    pipeline = list(cfg["nlp"]["pipeline"])
    pipeline[pipeline.index("fgen_ner")] = name
    cfg["nlp"]["pipeline"] = pipeline
    del cfg["components"]["fgen_ner"]
    cfg["components"][name] = component
    cfg["initialize"]["components"].pop("fgen_ner", None)


def system_config(encoder: str, system: str):
    """The training config of one benchmark system, derived from the encoder's base config."""
    cfg = load_config(BASE_CONFIGS[encoder], interpolate=False)
    if system == "softmax":
        cfg["components"]["fgen_ner"]["use_crf"] = False
    elif system == "ner":
        model = {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
                 "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "nO": None, "tok2vec": _listener(cfg)}
        _swap_ner(cfg, "ner", {"factory": "ner", "moves": None, "update_with_oracle_cut_size": 100, "incorrect_spans_key": None,
                               "model": model, "scorer": {"@scorers": "spacy.ner_scorer.v1"}})
    elif system == "spancat":
        model = {"@architectures": "spacy.SpanCategorizer.v1", "tok2vec": _listener(cfg),
                 "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 128},
                 "scorer": {"@layers": "Softmax.v2", "nO": None, "nI": None}}
        _swap_ner(cfg, "spancat", {"factory": "spancat_singlelabel", "spans_key": "fgen", "allow_overlap": False,
                                   "negative_weight": 1.0, "model": model,
                                   "suggester": {"@misc": "spacy.ngram_range_suggester.v1", "min_size": 1, "max_size": 10},
                                   "scorer": {"@scorers": "spacy.spancat_scorer.v1"}})
        weights = cfg["training"]["score_weights"]
        for key in [k for k in weights if k.startswith("ents_")]:
            weights[key.replace("ents_", "spans_fgen_")] = weights.pop(key)
    elif system != "crf":
        raise ValueError(f"unknown system {system!r}: choose from {', '.join(SYSTEMS)}")
    return cfg


def run_dir_of(out: Path, encoder: str, system: str, fold: int) -> Path:
    return out / f"{system}_{encoder}" / f"fold{fold}"


def train_fold(encoder: str, system: str, fold: int, folds_dir: Path, out: Path, epochs: int, definitions: Path, gpu_id: int,
               overrides: Sequence[str] = (), dev_share: float = 0.0, eval_every: int = 100) -> float:
    """Train one system on folds/train{k} for `epochs` epochs; returns the seconds per epoch.

    dev_share > 0: that share of train{k} is held out as a dev part, scored every `eval_every`
    steps, and model-best is the one evaluated (the test fold is never seen in training).
    """
    run_dir = run_dir_of(out, encoder, system, fold)
    config = run_dir / "config.cfg"
    if not config.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        system_config(encoder, system).to_disk(config)
    train, dev = folds_dir / f"train{fold}.spacy", folds_dir / f"fold{fold}.spacy"
    if dev_share > 0:
        train, dev = carve_dev(train, run_dir / "inner", dev_share)
    return train_run(config, run_dir, train, dev, epochs, definitions, gpu_id, overrides,
                     eval_frequency=eval_every if dev_share > 0 else None)


def evaluate_fold(encoder: str, system: str, fold: int, folds_dir: Path, out: Path, definitions: Path, gpu_id: int,
                  model: str = "model-last") -> Dict[str, Any]:
    """Score one run's `model` (model-last or model-best) on its held-out fold and measure its speed."""
    run_dir = run_dir_of(out, encoder, system, fold)
    result_path = run_dir / "result.json"
    if result_path.exists():
        return srsly.read_json(result_path)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(run_dir / model)
    gold = list(DocBin().from_disk(folds_dir / f"fold{fold}.spacy").get_docs(nlp.vocab))
    timing = srsly.read_json(run_dir / "timing.json")
    result = {
        "system": system, "encoder": encoder, "fold": fold, "epochs": timing["epochs"], "model": model,
        "seconds_per_epoch": timing["seconds_per_epoch"],
        "peak_rss_mb": timing.get("peak_rss_mb"),
        "words_per_second": words_per_second(nlp, [d.text for d in gold], nlp.batch_size),
        "scores": evaluate_docs(nlp, gold, definitions=definitions),
    }
    write_bytes_atomic(result_path, srsly.json_dumps(result, indent=2).encode("utf8"))
    return result


def report_table(results: List[Dict[str, Any]], labels: List[str], heads: List[str]) -> str:
    """Markdown: one row per system, mean ± std over folds."""
    header = ["system", "folds", "ents F", *[f"{lab} F" for lab in labels], "values F", "value acc",
              *[f"words {h} F" for h in heads], "statements F", "docs with entities: ents / words category F",
              "s/epoch", "train peak RSS (MB)", "words/s"]
    rows = []
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for res in results:
        groups.setdefault(f"{res['system']} ({res['encoder']})", []).append(res)
    for name, runs in groups.items():
        s = [r["scores"] for r in runs]
        row = [name, str(len(runs)), mean_std([x["ents_f"] for x in s])]
        row += [mean_std([x["ents_per_type"].get(lab, {}).get("f", 0.0) for x in s]) for lab in labels]
        row += [mean_std([x.get("values_f") for x in s]), mean_std([x.get("values_acc") for x in s])]
        row += [mean_std([x.get(f"words_{h}_f") for x in s]) for h in heads]
        row += [mean_std([x.get("links_f") for x in s])]
        subsets = [x.get("docs_with_entities") or {} for x in s]
        row += [f"{mean_std([x.get('ents_f') for x in subsets])} / {mean_std([x.get('words_category_f') for x in subsets])}"]
        row += [mean_std([r["seconds_per_epoch"] for r in runs], 1.0, 0), mean_std([r.get("peak_rss_mb") for r in runs], 1.0, 0),
                mean_std([r["words_per_second"] for r in runs], 1.0, 0)]
        rows.append(row)
    return "\n".join(md_table(header, rows))


@app.command()
def main(
    folds_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="folds/ folder from scripts/split.py"),
    systems: str = typer.Option(",".join(SYSTEMS), "--systems", help="Comma-separated: crf, softmax, ner, spancat"),
    encoders: str = typer.Option("cnn", "--encoders", help="Comma-separated: cnn, trf, features"),
    folds: str = typer.Option("0,1,2,3,4", "--folds", help="Comma-separated fold indices"),
    epochs: int = typer.Option(15, "--epochs", help="Training epochs per run (fixed: no selection on the test fold)"),
    output: Path = typer.Option(Path("training/benchmark"), "--output", help="Runs and results.json"),
    report: Path = typer.Option(None, "--report", help="Markdown file whose benchmark section is (re)written"),
    definitions: Path = typer.Option(Path("assets/fgen-corpus"), "--definitions", help="Corpus folder with the scheme definition files"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU for training and evaluation (-1: CPU)"),
    workers: int = typer.Option(1, "--workers", help="Training runs at once (CPU: at most the number of cores)"),
    overrides: List[str] = typer.Option([], "--set", help="Config override KEY=VALUE for every run, e.g. training.max_steps=280"),
    dev_share: float = typer.Option(0.0, "--dev-share", help="Hold out this share of each training fold as dev and score its model-best (0: score model-last)"),
    eval_every: int = typer.Option(100, "--eval-every", help="With --dev-share: steps between dev evaluations"),
) -> None:
    """Train and score every system on every fold; print and record mean ± std.

    Training runs `workers` at a time; evaluation and speed follow one at a time, so the
    words/s are measured on an otherwise idle machine.
    """
    # Fold-major order: if a long run is cut short, every system has the same folds done.
    runs = [(e, s, int(k)) for e in encoders.split(",") for k in folds.split(",") for s in systems.split(",")]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(train_fold, e, s, k, folds_dir, output, epochs, definitions, gpu_id, overrides, dev_share, eval_every): (e, s, k)
                for e, s, k in runs}
        for job in as_completed(jobs):
            e, s, k = jobs[job]
            msg.info(f"trained {s} ({e}), fold {k}: {job.result():.0f} s/epoch")
    results = []
    for e, s, k in runs:
        res = evaluate_fold(e, s, k, folds_dir, output, definitions, gpu_id, "model-best" if dev_share > 0 else "model-last")
        msg.text(f"{s} ({e}) fold {k}: ents F {100 * res['scores']['ents_f']:.1f}, {res['words_per_second']:.0f} words/s")
        results.append(res)
    write_bytes_atomic(output / "results.json", srsly.json_dumps(results, indent=2).encode("utf8"))
    labels = sorted({lab for r in results for lab in r["scores"]["ents_per_type"]})
    heads = scored_heads({key: None for r in results for key in r["scores"]})
    table = report_table(results, labels, heads)
    print(table)
    if report is not None:
        chosen = (f"best model of {epochs} epochs on a dev part ({dev_share:.0%} of each training fold, scored every "
                  f"{eval_every} steps)" if dev_share > 0 else f"last model after {epochs} epochs")
        command = "python scripts/benchmark_ner.py " + " ".join(sys.argv[1:])
        section = (f"## NER + values ({encoders}): {len(set(r['fold'] for r in results))}-fold cross-validation on V2\n\n"
                   f"`{command}` — {date.today().isoformat()}, {machine()}. "
                   f"Mean ± std over folds; F in %, {chosen}. s/epoch: wall time of "
                   f"`spacy train` (initialization included) / epochs, with {workers} run(s) at once; words/s: "
                   f"`nlp.pipe` over the fold's texts after a warm-up, one run at a time.\n\n{table}\n")
        update_report(report, section, report_marks(encoders))


if __name__ == "__main__":
    app()
