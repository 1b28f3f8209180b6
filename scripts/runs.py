"""The run history: every `spacy train` with fgen.run_logger.v1 (all fgen configs) appends a record.

    python scripts/runs.py list [--history training/runs.jsonl] [--last N]
    python scripts/runs.py show NAME [--history training/runs.jsonl]

`list` prints one row per run, oldest first: name, when it finished, encoder, steps, seconds,
the best weighted score and its ents_f / values_f / links_f (columns no run has are left out).
`show` prints the latest record of that name (or run folder) as JSON. To compare runs, pass
their names or folders to scripts/report.py. `--history` defaults to $FGEN_RUN_HISTORY when set.
"""
import json
from pathlib import Path
from typing import Any, Dict, List

import typer

from fgen.util.console import msg
from fgen.runs.run_logger import DEFAULT_HISTORY, HISTORY_ENV, find_run, read_history
from fgen.runs.run_report import pct

app = typer.Typer(add_completion=False, help="List and inspect the training run history.")
KEY_METRICS = ("ents_f", "values_f", "links_f")


def history_rows(records: List[Dict[str, Any]]) -> List[List[str]]:
    """Table rows for `records`: the key metrics are those of the best evaluation."""
    metrics = [k for k in KEY_METRICS if any(k in ((r.get("best") or {}).get("scores") or {}) for r in records)]
    header = ["name", "finished", "status", "encoder", "steps", "seconds", "best", *metrics]
    rows = [header]
    for rec in records:
        best = rec.get("best") or {}
        scores = best.get("scores") or {}
        rows.append([str(rec.get("name", "?")), str(rec.get("finished", "-")).replace("+00:00", "Z"), str(rec.get("status", "-")),
                     str(rec.get("encoder", "-")), str(rec.get("steps", "-")), str(rec.get("seconds", "-")),
                     pct(best.get("score")), *[pct(scores.get(k)) for k in metrics]])
    return rows


@app.command("list")
def list_runs(
    history: Path = typer.Option(Path(DEFAULT_HISTORY), "--history", envvar=HISTORY_ENV, help="Run history (JSON lines)"),
    last: int = typer.Option(0, "--last", help="Only the last N runs (0: all)"),
) -> None:
    """Print the runs in the history, oldest first."""
    records = read_history(history)
    if not records:
        msg.info(f"No runs in {history}")
        return
    records = records[-last:] if last > 0 else records
    header, *rows = history_rows(records)
    msg.table(rows, header=header, divider=True, aligns=["l", "l", "l", "l", *["r"] * (len(header) - 4)])


@app.command("show")
def show_run(
    name: str = typer.Argument(..., help="Run name (or run folder) in the history"),
    history: Path = typer.Option(Path(DEFAULT_HISTORY), "--history", envvar=HISTORY_ENV, help="Run history (JSON lines)"),
) -> None:
    """Print the latest record of run NAME as JSON."""
    record = find_run(read_history(history), name)
    if record is None:
        msg.fail(f"{name}: no such run in {history}", exits=1)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    app()
