"""Write the docs of a DocBin as MAE XML files, one per doc, that annotators open in MAE.

    python scripts/export_mae.py INPUT.spacy OUTPUT_DIR [--scheme v2|v1] [--definitions DIR]

INPUT is any DocBin: a converted corpus or annotate's `.spacy` output. Each file is named after
the doc's source file, else its record id (annotate), else `PMID<pmid>.xml`, else `doc<N>.xml`.
Gold docs come back exactly as annotated; predicted docs (no MAE ids) get fresh ids.
OUTPUT_DIR must be new, empty, or an earlier fgen output (nothing else in it): it is written all
at once, replacing it; a failure leaves it as it was.
"""
from pathlib import Path
from typing import Iterable, Iterator, Optional, Set, Tuple

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from fgen.util.console import msg

import fgen  # noqa: F401  registers doc._.links and doc._.provenance
from fgen.annotate.inputs import AnnotateError
from fgen.annotate.output_location import check_output_location
from fgen.annotate.outputs import write_mae_folder
from fgen.formats.mae_doc import mae_file_content, safe_file_name
from fgen.corpus.schemes import Scheme, find_definitions_dir, load_scheme

app = typer.Typer(add_completion=False)


def file_name_for(doc: Doc, index: int, taken: Set[str]) -> str:
    """The MAE file name for a doc, unique in `taken`: its source name, else its record id, else
    its PMID, else its position."""
    provenance = doc._.provenance or {}
    if provenance.get("source"):
        name = Path(provenance["source"]).name
    elif provenance.get("id") is not None:
        name = str(provenance["id"])
    elif provenance.get("pmid"):
        name = f"PMID{provenance['pmid']}"
    else:
        name = f"doc{index:05d}"
    return safe_file_name(name, taken)


def named_contents(docs: Iterable[Doc], scheme: Scheme) -> Iterator[Tuple[str, str]]:
    """(file name, MAE XML) per doc. RAISES (AnnotateError): a doc that does not fit the scheme."""
    taken: Set[str] = set()
    for i, doc in enumerate(docs):
        name = file_name_for(doc, i, taken)
        yield name, mae_file_content(doc, name, scheme)


def export_docs(docs: Iterable[Doc], scheme: Scheme, output_dir: Path) -> int:
    """Write every doc as a MAE file in `output_dir` (atomically); returns the number written."""
    return write_mae_folder(named_contents(docs, scheme), output_dir, "fgen export_mae")


@app.command()
def main(
    input_path: Path = typer.Argument(..., help="DocBin (.spacy) to export", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Folder for the MAE XML files: new, empty or an earlier fgen output (replaced as a whole)"),
    scheme: str = typer.Option(None, "--scheme", "-s", help="v2 or v1 (default: the docs' own scheme, else v2)"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files"),
) -> None:
    """Export a DocBin to MAE XML (entities with values, ENTITY_LINKING statements)."""
    try:
        check_output_location(output_dir, True, [input_path])
    except AnnotateError as err:
        msg.fail(str(err), exits=1)
    try:
        docs = list(DocBin().from_disk(input_path).get_docs(Vocab()))
    except ValueError as err:
        msg.fail(f"{input_path}: not a readable DocBin ({' '.join(str(err).split()[:12])} ...)", exits=1)
    name = scheme or next((d._.provenance["scheme"] for d in docs if (d._.provenance or {}).get("scheme")), "v2")
    defs_dir = definitions or find_definitions_dir([input_path, Path.cwd()], name)
    if defs_dir is None:
        msg.fail(f"No definition files for scheme {name}: pass --definitions", exits=2)
    try:
        written = export_docs(docs, load_scheme(defs_dir, name), output_dir)
    except (AnnotateError, KeyError, ValueError) as err:
        msg.fail(f"{input_path}: {err}", exits=1)
    msg.good(f"Wrote {written} MAE files to {output_dir}")


if __name__ == "__main__":
    app()
