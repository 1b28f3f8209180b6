"""Write the docs of a DocBin as MAE XML files, one per doc, that annotators open in MAE.

    python scripts/export_mae.py INPUT.spacy OUTPUT_DIR [--scheme v2|v1]

Each file is named after the doc's source file (or `PMID<pmid>.xml`, or `doc<N>.xml`).
Gold docs come back exactly as annotated; predicted docs (no MAE ids) get fresh ids.
The folder is written all at once: a failure leaves OUTPUT_DIR as it was.
"""
from pathlib import Path
from typing import Optional

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from fgen.util.console import msg

import fgen  # noqa: F401  registers doc._.links and doc._.provenance
from fgen.util.atomic import atomic_directory
from fgen.corpus.mae import mae_to_string
from fgen.corpus.mae_doc import doc_to_mae
from fgen.corpus.schemes import Scheme, find_definitions_dir, load_scheme

app = typer.Typer(add_completion=False)


def file_name_for(doc: Doc, index: int) -> str:
    """The MAE file name for a doc: its source name, else its PMID, else its position."""
    provenance = doc._.provenance or {}
    if provenance.get("source"):
        return Path(provenance["source"]).name
    if provenance.get("pmid"):
        return f"PMID{provenance['pmid']}.xml"
    return f"doc{index:05d}.xml"


def export_docs(docs, scheme: Scheme, output_dir: Path) -> int:
    """Write every doc as a MAE file in `output_dir` (atomically); returns the number written."""
    names = set()
    with atomic_directory(output_dir) as tmp:
        for i, doc in enumerate(docs):
            name = file_name_for(doc, i)
            if name in names:
                raise ValueError(f"two docs would both be written as {name}")
            names.add(name)
            (tmp / name).write_text(mae_to_string(doc_to_mae(doc, scheme), scheme), encoding="utf8")
    return len(names)


@app.command()
def main(
    input_path: Path = typer.Argument(..., help="DocBin (.spacy) to export", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Folder for the MAE XML files (replaced as a whole)"),
    scheme: str = typer.Option(None, "--scheme", "-s", help="v2 or v1 (default: the docs' own scheme)"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files"),
) -> None:
    """Export a DocBin to MAE XML (entities with values, ENTITY_LINKING statements)."""
    try:
        docs = list(DocBin().from_disk(input_path).get_docs(Vocab()))
    except ValueError as err:
        msg.fail(f"{input_path}: not a readable DocBin ({' '.join(str(err).split()[:12])} ...)", exits=1)
    name = scheme or next((d._.provenance["scheme"] for d in docs if d._.provenance), "v2")
    defs_dir = definitions or find_definitions_dir([input_path, Path.cwd()], name)
    if defs_dir is None:
        msg.fail(f"No definition files for scheme {name}: pass --definitions", exits=2)
    try:
        written = export_docs(docs, load_scheme(defs_dir, name), output_dir)
    except (KeyError, ValueError) as err:
        msg.fail(f"{input_path}: {err}", exits=1)
    msg.good(f"Wrote {written} MAE files to {output_dir}")


if __name__ == "__main__":
    app()
