"""Split an fgen DocBin into train/dev, k folds and link-training subsets.

    python scripts/split.py INPUT.spacy OUTPUT_DIR [--seed 0] [--dev-fraction 0.2] [--folds 5]
        [--include-unannotated/--no-include-unannotated] [--link-docs linked-only|all]

Writes OUTPUT_DIR/{train,dev}.spacy, folds/fold{k}.spacy + folds/train{k}.spacy (all folds
but k), the same under links/ restricted to link-annotated docs, and splits.json. OUTPUT_DIR
is replaced all at once; the rules are in `fgen.corpus.splits`.
"""
import hashlib
from pathlib import Path

import typer
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from fgen.util.console import msg
from fgen.corpus.splits import LinkDocs, build_manifest, check_output_dir, plan_splits, write_splits

app = typer.Typer(add_completion=False)


@app.command()
def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin from scripts/convert.py"),
    output_dir: Path = typer.Argument(..., help="Folder to (re)create with the splits"),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice"),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="Share of docs in dev"),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds (0: none)"),
    include_unannotated: bool = typer.Option(True, "--include-unannotated/--no-include-unannotated", help="Keep abstracts without entities (all tokens outside)"),
    link_docs: LinkDocs = typer.Option(LinkDocs.linked_only, "--link-docs", help="Docs of the links/ subsets (statements): those with statements annotated (linked-only) or all"),
) -> None:
    """Seeded, PMID-grouped train/dev split, folds and link subsets, with a splits.json manifest."""
    data = input_path.read_bytes()
    docs = list(DocBin().from_bytes(data).get_docs(Vocab()))
    options = {"seed": seed, "dev_fraction": dev_fraction, "folds": folds, "include_unannotated": include_unannotated, "link_docs": link_docs.value}
    try:
        check_output_dir(output_dir, input_path)
        plan = plan_splits(docs, seed=seed, dev_fraction=dev_fraction, n_folds=folds, include_unannotated=include_unannotated, link_docs=link_docs)
    except ValueError as err:
        msg.fail(str(err), exits=2)
    manifest = build_manifest(docs, plan, options, {"path": input_path.name, "sha256": hashlib.sha256(data).hexdigest()})
    write_splits(docs, plan, output_dir, manifest)
    rows = [(name, s["groups"], s["docs"], s["entities"], s["links"], s["links_annotated_docs"]) for name, s in manifest["splits"].items()]
    msg.table(rows, header=("file", "groups", "docs", "entities", "links", "linked docs"), divider=True, aligns=("l", "r", "r", "r", "r", "r"))
    for name, stats in manifest["splits"].items():
        if not stats["docs"]:
            msg.warn(f"{name} is empty")
    dropped = f", dropped {plan.n_dropped} unannotated" if plan.n_dropped else ""
    msg.good(f"Wrote {len(plan.files)} DocBins and splits.json to {output_dir} ({len(docs)} docs in{dropped})")


if __name__ == "__main__":
    app()
