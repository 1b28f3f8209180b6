"""Cross-validated statement (link) benchmark: fgen_links vs two baselines, gold and predicted entities.

    python scripts/benchmark_links.py corpus/v2 --folds 0,1,2,3,4 --epochs 10 --workers 2 \
        --output training/benchmark_links --report docs/benchmarks.md --definitions assets/fgen-corpus

For fold k the whole pipeline (configs/pipeline_cnn.cfg, or `--config`) trains on
`folds/train{k}.spacy` (every training abstract: the NER learns from all, fgen_links only
from the link-annotated ones) for a fixed number of epochs, and its last model is scored on
the link-annotated abstracts of fold k (`links/fold{k}.spacy`; folds are grouped by PMID):
- gold entities: the gold entities (and values) are given and only the encoder and fgen_links
  run (`fgen.scoring.evaluation.predict_on_gold_entities`);
- end to end: the pipeline runs on the raw text.
The baselines link the same entities: "sentence" = every combination of one entity per
category within a sentence; "nearest_effect" = each EFFECT with the nearest entity of every
other category in its sentence. End to end they link the pipeline's predicted entities.
Speed: `nlp.pipe` over all texts of fold k, full pipeline, after a warm-up pass.
"""
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Any, Dict, List

import spacy
import srsly
import typer
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from fgen.util.atomic import write_bytes_atomic
from fgen.runs.benchmarking import machine, mean_std, train_run, update_report, words_per_second
from fgen.util.console import msg
from fgen.util.markdown import md_table
from fgen.doc_layout import set_links
from fgen.scoring.evaluation import predict_examples, predict_on_gold_entities
from fgen.pipeline.links.link_baselines import link_with
from fgen.pipeline.links.link_scorer import score_links

REPO = Path(__file__).resolve().parents[1]
MARKS = ("<!-- links-benchmark:start -->", "<!-- links-benchmark:end -->")
SYSTEMS = ("fgen_links", "sentence", "nearest_effect")
KEYS = ("links_f", "links_p", "links_r", "link_pairs_f", "links_partial_f", "link_only_f")
app = typer.Typer(add_completion=False)


def _without_links(examples: List[Example]) -> List[Example]:
    """The examples with the links of their predicted docs removed (entities kept)."""
    out = []
    for eg in examples:
        doc = eg.predicted.copy()
        set_links(doc, [])
        out.append(Example(doc, eg.reference))
    return out


def _baseline_scores(examples: List[Example], name: str) -> Dict[str, float]:
    examples = _without_links(examples)
    link_with(name, [eg.predicted for eg in examples])
    return score_links(examples)


def evaluate_fold(run_dir: Path, corpus: Path, fold: int, gpu_id: int) -> Dict[str, Any]:
    """Scores of the model and the baselines on one fold, gold and predicted entities."""
    result_path = run_dir / "result.json"
    if result_path.exists():
        return srsly.read_json(result_path)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(run_dir / "model-last")
    gold: List[Doc] = list(DocBin().from_disk(corpus / "links" / f"fold{fold}.spacy").get_docs(nlp.vocab))
    every_text = [d.text for d in DocBin().from_disk(corpus / "folds" / f"fold{fold}.spacy").get_docs(nlp.vocab)]
    scores: Dict[str, Dict[str, Dict[str, float]]] = {"gold": {}, "predicted": {}}
    for entities, predict in (("gold", predict_on_gold_entities), ("predicted", predict_examples)):
        examples = predict(nlp, gold)
        scores[entities]["fgen_links"] = score_links(examples)
        for name in SYSTEMS[1:]:
            scores[entities][name] = _baseline_scores(examples, name)
    result = {
        "fold": fold, "docs": len(gold), "seconds_per_epoch": srsly.read_json(run_dir / "timing.json")["seconds_per_epoch"],
        "words_per_second": words_per_second(nlp, every_text, nlp.batch_size), "scores": scores,
    }
    write_bytes_atomic(result_path, srsly.json_dumps(result, indent=2).encode("utf8"))
    return result


def report_table(results: List[Dict[str, Any]]) -> str:
    """Markdown: one row per (entities, system), mean ± std over folds."""
    header = ["entities", "system", "folds", "exact F", "exact P", "exact R", "pairs F", "partial F", "link_only F"]
    rows = []
    for entities in ("gold", "predicted"):
        for system in SYSTEMS:
            runs = [r["scores"][entities][system] for r in results]
            row = [entities, system, str(len(runs)), *(mean_std(r[key] for r in runs) for key in KEYS)]
            rows.append(row)
    return "\n".join(md_table(header, rows))


@app.command()
def main(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="Output folder of scripts/split.py (folds/ and links/)"),
    folds: str = typer.Option("0,1,2,3,4", "--folds", help="Comma-separated fold indices"),
    epochs: int = typer.Option(10, "--epochs", help="Training epochs per run (fixed: no selection on the test fold)"),
    config: Path = typer.Option(REPO / "configs" / "pipeline_cnn.cfg", "--config", exists=True, help="Pipeline config with fgen_links"),
    output: Path = typer.Option(Path("training/benchmark_links"), "--output", help="Runs and results.json"),
    report: Path = typer.Option(None, "--report", help="Markdown file whose statements section is (re)written"),
    definitions: Path = typer.Option(Path("assets/fgen-corpus"), "--definitions", help="Corpus folder with the scheme definition files"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU for training and evaluation (-1: CPU)"),
    workers: int = typer.Option(1, "--workers", help="Training runs at once (CPU: at most the number of cores)"),
    overrides: List[str] = typer.Option([], "--set", help="Config override KEY=VALUE for every run"),
) -> None:
    """Train the pipeline on every fold, score statements with gold and predicted entities
    against the baselines; print and record mean ± std."""
    ks = [int(k) for k in folds.split(",")]
    run_dirs = {k: output / f"fold{k}" for k in ks}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(train_run, config, run_dirs[k], corpus / "folds" / f"train{k}.spacy",
                            corpus / "links" / f"fold{k}.spacy", epochs, definitions, gpu_id, overrides): k for k in ks}
        for job in as_completed(jobs):
            msg.info(f"trained fold {jobs[job]}: {job.result():.0f} s/epoch")
    results = []
    for k in ks:
        res = evaluate_fold(run_dirs[k], corpus, k, gpu_id)
        s = res["scores"]
        msg.text(f"fold {k}: exact F gold {100 * s['gold']['fgen_links']['links_f']:.1f}, "
                 f"end to end {100 * s['predicted']['fgen_links']['links_f']:.1f}, {res['words_per_second']:.0f} words/s")
        results.append(res)
    write_bytes_atomic(output / "results.json", srsly.json_dumps(results, indent=2).encode("utf8"))
    table = report_table(results)
    speed = mean_std([r["words_per_second"] for r in results], 1.0, 0)
    print(table)
    msg.text(f"full pipeline: {speed} words/s")
    if report is not None:
        command = "python scripts/benchmark_links.py " + " ".join(sys.argv[1:])
        section = (f"## Statements: {len(ks)}-fold cross-validation on the link-annotated V2 abstracts\n\n"
                   f"`{command}` — {date.today().isoformat()}, {machine()}. Mean ± std over folds; F/P/R in %, "
                   f"last model after {epochs} epochs of `{config.name}`, threshold from the config (not tuned on "
                   f"the test folds). Full pipeline speed (`nlp.pipe`, all texts of the fold): {speed} words/s; "
                   f"training {mean_std([r['seconds_per_epoch'] for r in results], 1.0, 0)} s/epoch with {workers} "
                   f"run(s) at once.\n\n{table}\n")
        update_report(report, section, MARKS)


if __name__ == "__main__":
    app()
