"""Markdown tables for the reports and benchmark write-ups."""
from typing import Any, Iterable, List, Sequence


def md_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> List[str]:
    """The lines of a Markdown table.

    header (Sequence[Any]): the column titles.
    rows (Iterable[Sequence[Any]]): one sequence of cells per row; cells are `str()`-ed and "|" is escaped.
    RETURNS (List[str]): header line, separator line, one line per row.
    """
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines
