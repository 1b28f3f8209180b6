"""The `fgen-explore` command (and `python scripts/explore.py` in the repository):

    fgen-explore build INDEX INPUT...
    fgen-explore query INDEX [--perturbation S] [--context S] [--effect S] [--phenotype S]
        [--text S] [--id ID] [--min-abstracts N] [--min-score X] [--limit N] [--evidence N]
        [--format table|json|csv]
    fgen-explore serve INDEX [--host 127.0.0.1] [--port 8000] [--model MODEL]

INPUT: annotate's JSONL files, the Ray job's Parquet files, or folders of them. INDEX of `query`
may also be a Parquet folder (or file): the same query runs over it without building a copy.
Bad input is reported one line per file (`path: reason`), exit code 1, the index unchanged.
docs/explore.md has the details.
"""
from pathlib import Path
from typing import List, Optional

import typer

from fgen.util.console import msg

app = typer.Typer(add_completion=False, help="Search, group and inspect the statements fgen extracted across abstracts.")


def open_source(index: Path):
    """A connection for queries: the built index (read-only), or views over a Parquet folder or file.

    RAISES (ExploreInputError): neither.
    """
    from fgen.explore.index import open_index, parquet_source

    if index.is_dir() or index.suffix == ".parquet":
        return parquet_source(index)
    return open_index(index)


@app.command()
def build(
    index: Path = typer.Argument(..., help="The DuckDB index file (created, or extended when it exists)"),
    inputs: List[Path] = typer.Argument(..., help="annotate's .jsonl files, the Ray job's .parquet files, or folders of them"),
) -> None:
    """Add the records of INPUT... to INDEX; a record whose id is indexed already is replaced."""
    from fgen.explore.index import ExploreInputError, build_index

    try:
        counts = build_index(index, inputs)
    except ExploreInputError as err:
        for line in str(err).splitlines():
            msg.fail(line)
        raise typer.Exit(1)
    msg.good(
        f"{index}: {counts['records']} records, {counts['statements']} statements from {counts['files']} file(s); "
        f"index: {counts['index_records']} records, {counts['index_statements']} statements"
    )
    msg.text(f"Search it: fgen-explore query {index} --text WORDS; serve it: fgen-explore serve {index}")


@app.command()
def query(
    index: Path = typer.Argument(..., help="A built index, or a Parquet folder or file"),
    perturbation: Optional[str] = typer.Option(None, "--perturbation", help="PERTURBING_ACTION value, text or target"),
    context: Optional[str] = typer.Option(None, "--context", help="CONTEXT value or text"),
    effect: Optional[str] = typer.Option(None, "--effect", help="EFFECT value or text"),
    phenotype: Optional[str] = typer.Option(None, "--phenotype", help="PHENOTYPE value or text"),
    text: Optional[str] = typer.Option(None, "--text", help="Any member's value or text"),
    record_id: Optional[str] = typer.Option(None, "--id", help="Only statements found in this record"),
    min_abstracts: int = typer.Option(1, "--min-abstracts", help="Statements found in at least N abstracts"),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Only statements scored at least X"),
    limit: int = typer.Option(50, "--limit", help="Groups to show"),
    evidence: int = typer.Option(20, "--evidence", help="Evidence statements per group, best first"),
    fmt: str = typer.Option("table", "--format", help="table, json or csv"),
) -> None:
    """Statements grouped across abstracts, most abstracts first."""
    from fgen.explore.index import ExploreInputError
    from fgen.explore.query import Filters, format_groups, query_statements

    if fmt not in ("table", "json", "csv"):
        msg.fail(f"--format {fmt}: table, json or csv", exits=1)
    try:
        con = open_source(index)
    except ExploreInputError as err:
        msg.fail(str(err), exits=1)
    filters = Filters(
        perturbation=perturbation, context=context, effect=effect, phenotype=phenotype, text=text, id=record_id,
        min_abstracts=min_abstracts, min_score=min_score, limit=limit, evidence=evidence,
    )
    try:
        typer.echo(format_groups(query_statements(con, filters), fmt), nl=False)
    finally:
        con.close()


@app.command()
def serve(
    index: Path = typer.Argument(..., help="A built index (opened read-only)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)"),
    port: int = typer.Option(8000, "--port", help="Port"),
    model: Optional[str] = typer.Option(None, "--model", help="A trained pipeline: adds the live-annotation tab"),
) -> None:
    """The explorer's web page and JSON API (/api/statements) for INDEX."""
    import uvicorn

    from fgen.explore.index import ExploreInputError
    from fgen.explore.server import create_app

    try:
        web_app = create_app(index, model=model)
    except ExploreInputError as err:
        msg.fail(str(err), exits=1)
    msg.info(f"Serving {index} on http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(web_app, host=host, port=port, log_level="warning")
