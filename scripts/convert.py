"""Convert MAE XML files or folders to one spaCy DocBin.

    python scripts/convert.py INPUT... OUTPUT.spacy --scheme v2|v1 [--report report.json]

Bad files are listed one line each (file: reason); by default nothing is written then and
the exit code is 1. With --skip-invalid the valid files are written and the bad ones reported.
"""
import re
from pathlib import Path
from typing import List, Optional

import srsly
import typer
from spacy.tokens import DocBin
from fgen.util.console import msg

from fgen.util.atomic import write_bytes_atomic
from fgen.doc_layout import SPAN_KEY
from fgen.corpus.conversion import LINKED_FOLDER_RE, ConversionResult, convert_paths
from fgen.corpus.schemes import find_definitions_dir, load_scheme
from fgen.corpus.tokenizer import make_nlp

app = typer.Typer(add_completion=False)


def report_dict(result: ConversionResult, output: Path, scheme: str) -> dict:
    """The JSON conversion report: counts, skipped files, duplicates, slips and warnings."""
    return {
        "output": str(output),
        "scheme": scheme,
        "files_read": result.n_files,
        "docs_written": len(result.docs),
        "spans": result.n_spans,
        # annotated fragments minus exact spans written (slips get a forced token split)
        "spans_not_representable": result.n_spans - sum(len(d.spans[SPAN_KEY]) for d in result.docs),
        "spans_needing_forced_split": len(result.forced_spans),
        "forced_split_spans": [
            {"file": path, "id": s.entity_id, "label": s.label, "start": s.start, "end": s.end, "kind": s.kind, "context": s.context}
            for path, s in result.forced_spans
        ],
        "duplicates_dropped": [{"dropped": d, "kept": k} for d, k in result.duplicates],
        "invalid_files": [{"file": e.path, "reason": e.reason} for e in result.errors],
        "warnings": [{"file": path, "message": m} for path, m in result.warnings],
        "docs_with_links_annotated": sum(bool(d._.provenance["links_annotated"]) for d in result.docs),
        "links": sum(len(d._.links) for d in result.docs),
    }


def print_summary(report: dict) -> None:
    for bad in report["invalid_files"]:
        msg.fail(f"{bad['file']}: {bad['reason']}")
    for warning in report["warnings"]:
        msg.warn(f"{warning['file']}: {warning['message']}")
    for dup in report["duplicates_dropped"]:
        msg.text(f"duplicate abstract: dropped {dup['dropped']} (kept {dup['kept']})")
    for s in report["forced_split_spans"]:
        msg.text(f"annotation slip ({s['kind']}): {Path(s['file']).name} {s['label']} {s['id']} {s['start']}~{s['end']} {s['context']!r}")
    msg.info(
        f"{report['files_read']} files, {report['docs_written']} docs, {report['spans']} spans: "
        f"{report['spans_not_representable']} not representable, {report['spans_needing_forced_split']} "
        f"needed a token split beyond the tokenizer rules (listed above), {report['links']} links"
    )


@app.command()
def main(
    paths: List[Path] = typer.Argument(..., help="MAE files or folders (searched recursively), then OUTPUT.spacy"),
    scheme: str = typer.Option("v2", "--scheme", "-s", help="Annotation scheme: v2 or v1"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with tag_categories*.json (default: found above the inputs)"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Write the valid docs and report the invalid files"),
    report: Optional[Path] = typer.Option(None, "--report", "-r", help="Write the conversion report as JSON here"),
    linked_pattern: str = typer.Option(LINKED_FOLDER_RE.pattern, "--linked-pattern", help="Regex on folder names whose abstracts had links annotated"),
) -> None:
    """Convert MAE XML annotations to a DocBin (entities, values, links, provenance)."""
    if len(paths) < 2:
        msg.fail("Give at least one INPUT and the OUTPUT.spacy path", exits=2)
    *inputs, output = paths
    if output.suffix != ".spacy":
        msg.fail(f"{output}: the output must end in .spacy", exits=2)
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        msg.fail(f"No such file or folder: {', '.join(missing)}", exits=2)
    defs_dir = definitions or find_definitions_dir(inputs, scheme)
    if defs_dir is None:
        msg.fail(f"No scheme definition files for {scheme} found above the inputs; pass --definitions", exits=2)
    try:
        result = convert_paths(inputs, load_scheme(defs_dir, scheme), make_nlp(), re.compile(linked_pattern, re.IGNORECASE))
    except (FileNotFoundError, ValueError) as err:
        msg.fail(str(err), exits=2)
    summary = report_dict(result, output, scheme)
    print_summary(summary)
    if result.errors and not skip_invalid:
        msg.fail(f"{len(result.errors)} invalid file(s): nothing written (use --skip-invalid to write the valid ones)", exits=1)
    if report is not None:
        write_bytes_atomic(report, srsly.json_dumps(summary, indent=2).encode("utf8"))
    write_bytes_atomic(output, DocBin(store_user_data=True, docs=result.docs).to_bytes())
    skipped = f", skipped {len(result.errors)} invalid file(s)" if result.errors else ""
    msg.good(f"Wrote {len(result.docs)} docs to {output}{skipped}")


if __name__ == "__main__":
    app()
