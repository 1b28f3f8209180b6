"""Evaluate a trained fgen pipeline on a gold DocBin and write the metrics as JSON.

    python scripts/evaluate.py MODEL DATA.spacy --output metrics.json [--gpu-id N] [--definitions DIR]

The pipeline runs over the texts of the gold docs (`nlp.make_doc(text)`, then every
component), as `nlp.evaluate` does. The JSON holds the components' own scores (`ents_*` from
`fgen_ner`, `values_*` from `fgen_values`, `links_*`, `link_pairs_*`, `links_partial_*` and
`link_only_*` from `fgen_links`, plus anything else the pipeline scores), the speed,
and the word-level scores of the original project (`words_<head>_p/r/f`, see
`fgen/scoring/word_scores.py`). The scheme for the word scores is the one named in the gold docs'
provenance, loaded from `--definitions` or from the first folder above DATA holding its
definition files; without one the heads are derived from the labels and values in the docs.

While the pipeline runs, docs done, docs/s and an ETA are shown on stderr (`fgen.util.progress`).

The scores are also given over the gold docs with entities alone (`docs_with_entities`), as
the original project scored: its test splits (withheld here) hold annotated abstracts only.

`--gold-entities` gives the pipeline the gold entities (and values) instead of running its
entity and value components, to score the statements on perfect entities.

When MODEL is a folder, the JSON names it by `model_fingerprint` (`fgen.util.hashing.folder_hash`,
meta.json left out), so `scripts/package.py --metrics` ships these scores only with that pipeline.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy
import typer
from spacy.tokens import DocBin

import fgen  # noqa: F401  registers doc._.provenance, span._.confidence, ...
from fgen.util.atomic import write_bytes_atomic
from fgen.util.console import msg
from fgen.util.hashing import folder_hash
from fgen.util.progress import Progress
from fgen.scoring.entity_errors import ERROR_HEADER, error_rows
from fgen.scoring.evaluation import evaluate_docs
from fgen.scoring.word_errors import word_error_header, word_error_rows
from fgen.scoring.word_scores import scheme_of_docs, scored_heads

app = typer.Typer(add_completion=False)


def _fmt(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def print_report(scores: Dict[str, Any], heads: List[str]) -> None:
    """Overall scores, per-category tables for entities and values, word-level scores."""
    overall = []
    for prefix, name in (("ents", "entities (exact spans)"), ("values", "values"), ("links", "statements (exact)"),
                         ("links_partial", "statements (>= 3 of 4 roles)"), ("link_pairs", "linked entity pairs"),
                         ("link_only", "link_only (original project)")):
        if f"{prefix}_f" in scores:
            row = [name, _fmt(scores.get(f"{prefix}_p")), _fmt(scores.get(f"{prefix}_r")), _fmt(scores.get(f"{prefix}_f"))]
            row.append(_fmt(scores.get(f"{prefix}_acc")) if f"{prefix}_acc" in scores else "")
            overall.append(row)
    if overall:
        msg.table(overall, header=["", "P", "R", "F", "acc"], divider=True, aligns=["l", "r", "r", "r", "r"])
    for prefix, title in (("ents", "Entities per category"), ("values", "Values per category")):
        per_type = scores.get(f"{prefix}_per_type") or {}
        if not per_type:
            continue
        keys = [k for k in ("p", "r", "f", "acc") if any(isinstance(v, dict) and k in v for v in per_type.values())]
        rows = [[label, *(_fmt(v.get(k)) for k in keys)] for label, v in sorted(per_type.items()) if isinstance(v, dict)]
        msg.divider(title)
        msg.table(rows, header=["category", *[k.upper() if k != "acc" else "acc" for k in keys]], divider=True, aligns=["l", *["r"] * len(keys)])
    if scores.get("ents_errors"):
        msg.divider("Entity errors per category (gold entities by what the model made of them)")
        msg.table(error_rows(scores["ents_errors"]), header=ERROR_HEADER, divider=True, aligns=["l", *["r"] * (len(ERROR_HEADER) - 1)])
    rows = [[h, _fmt(scores[f"words_{h}_p"]), _fmt(scores[f"words_{h}_r"]), _fmt(scores[f"words_{h}_f"])] for h in heads]
    msg.divider("Word-level scores (original project)")
    msg.table(rows, header=["head", "P", "R", "F"], divider=True, aligns=["l", "r", "r", "r"])
    if scores.get("words_errors"):
        header = word_error_header(scores["words_errors"])
        msg.divider("Wrong words of the category head, by kind")
        msg.table(word_error_rows(scores["words_errors"]), header=header, divider=True, aligns=["l", *["r"] * (len(header) - 1)])
    subset = scores.get("docs_with_entities")
    if subset:
        parts = [f"{name} F {_fmt(subset.get(key))}" for key, name in
                 (("ents_f", "entities"), ("values_f", "values"), ("words_category_f", "words category"), ("links_f", "statements"))
                 if key in subset]
        msg.text(f"On the {subset['docs']} docs with gold entities only: {', '.join(parts)}")
    if scores.get("speed"):
        msg.text(f"{scores['speed']:.0f} words/s")


@app.command()
def main(
    model: str = typer.Argument(..., help="Trained pipeline folder (e.g. training/ner/model-best) or installed package name"),
    data: Path = typer.Argument(..., help="Gold DocBin (.spacy) from scripts/convert.py or scripts/split.py"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the metrics as JSON here"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme's definition files (default: found above DATA)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="nlp.pipe batch size (default: the pipeline's)"),
    gold_entities: bool = typer.Option(False, "--gold-entities", help="Give the pipeline the gold entities (statements scored on perfect entities)"),
) -> None:
    """Evaluate MODEL on DATA: entity and value scores plus the original word-level F1."""
    if not data.is_file():
        msg.fail(f"{data}: no such file", exits=1)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    else:
        spacy.require_cpu()
    # of the folder as loaded: hashed before the (minutes of) evaluation, not after
    fingerprint = folder_hash(model) if Path(model).is_dir() else None
    try:
        nlp = spacy.load(model)
    except (OSError, IOError) as err:
        msg.fail(f"{model}: cannot load the pipeline ({err})", exits=1)
    try:
        gold_docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    except Exception as err:  # a DocBin that does not parse: one line, not a traceback
        msg.fail(f"{data}: not a readable DocBin ({type(err).__name__}: {err})", exits=1)
    try:
        scheme = scheme_of_docs(gold_docs, definitions, search_from=[data])
    except (ValueError, FileNotFoundError) as err:
        msg.fail(f"{data}: {err}", exits=1)
    if scheme is None:
        msg.warn("No scheme definitions found: word-level heads are derived from the labels and values in the docs")
    progress = Progress(verb="evaluated", total=len(gold_docs))
    scores = evaluate_docs(nlp, gold_docs, scheme=scheme, batch_size=batch_size, gold_entities=gold_entities,
                           on_doc=progress.update)
    progress.close(len(gold_docs))
    heads = scored_heads(scores)
    metrics = {
        "model": model,
        "model_fingerprint": fingerprint,
        "data": str(data),
        "docs": len(gold_docs),
        "scheme": scheme.name if scheme is not None else None,
        "pipeline": list(nlp.pipe_names),
        "entities": "gold" if gold_entities else "predicted",
        "scores": scores,
    }
    print_report(scores, heads)
    if output is not None:
        write_bytes_atomic(output, (json.dumps(metrics, indent=2) + "\n").encode("utf8"))
        msg.good(f"Saved metrics to {output}")


if __name__ == "__main__":
    app()
