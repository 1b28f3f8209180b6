"""Statements grouped across abstracts: the query behind `fgen-explore query`, the page's table
and `GET /api/statements` (all three return the same list), and its table and CSV forms.

A built index answers from its precomputed `statement_groups` (filter and rank the groups, their
best evidence stored with them); a query that needs statement-level detail (`min_score`, more
evidence than kept) or a source without groups (the Parquet views) aggregates `statements`.
Every filter value is a bound parameter; the SQL text depends only on which filters are set.
"""
import csv
import io
import json
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

from fgen.explore.index import EVIDENCE_KEPT, ROLES, group_order
from fgen.explore.normalise import normalise_text

# Evidence kept per group, best scores first: a frequent statement has thousands.
DEFAULT_EVIDENCE = EVIDENCE_KEPT
DEFAULT_LIMIT = 50
# The category filters, by the name of their option.
CATEGORY_FILTERS = {"perturbation": "PERTURBING_ACTION", "context": "CONTEXT", "effect": "EFFECT", "phenotype": "PHENOTYPE"}


@dataclass
class Filters:
    """What `query_statements` selects. A category filter matches a member whose value equals it
    or whose normalised text contains it (normalised the same way), case-insensitively; the
    perturbation filter also matches the perturbation's target. `text` matches any member.
    `id` keeps the groups that have a statement in that record."""

    perturbation: Optional[str] = None
    context: Optional[str] = None
    effect: Optional[str] = None
    phenotype: Optional[str] = None
    text: Optional[str] = None
    id: Optional[str] = None
    min_abstracts: int = 1
    min_score: Optional[float] = None
    limit: int = DEFAULT_LIMIT
    evidence: int = DEFAULT_EVIDENCE

    @classmethod
    def from_params(cls, params: Dict[str, str]) -> "Filters":
        """Filters from string parameters (a URL's query), unknown names ignored, empty ones unset.

        RAISES (ValueError): a number that does not parse.
        """
        kwargs: Dict[str, Any] = {}
        for field in fields(cls):
            value = params.get(field.name, "").strip()
            if not value:
                continue
            if field.name in ("min_abstracts", "limit", "evidence"):
                kwargs[field.name] = int(value)
            elif field.name == "min_score":
                kwargs[field.name] = float(value)
            else:
                kwargs[field.name] = value
        return cls(**kwargs)


def _member_condition(prefix: str, value: str, params: List[Any], target: str) -> str:
    params += [value.lower(), normalise_text(value) or value.lower()]
    condition = f"lower({prefix}_value) = ? OR contains({prefix}_text, ?)"
    if prefix == "pa":
        params.append(value.lower())
        condition += f" OR contains({target}, ?)"
    return f"({condition})"


def _where(filters: Filters, grouped: bool) -> Tuple[str, List[Any]]:
    conditions, params = [], []  # type: List[str], List[Any]
    # A group's targets are stored lower-cased, one a line; a statement has its own.
    target = "pa_targets" if grouped else "lower(pa_target)"
    for name, role in CATEGORY_FILTERS.items():
        value = getattr(filters, name)
        if value:
            conditions.append(_member_condition(ROLES[role], value, params, target))
    if filters.text:
        conditions.append("(" + " OR ".join(_member_condition(p, filters.text, params, target) for p in ROLES.values()) + ")")
    if filters.id:
        conditions.append("gkey IN (SELECT gkey FROM statements WHERE id = ?)")
        params.append(filters.id)
    if filters.min_score is not None and not grouped:
        conditions.append("score >= ?")
        params.append(filters.min_score)
    return " AND ".join(conditions) or "TRUE", params


def uses_groups(filters: Filters) -> bool:
    """Whether `statement_groups` holds all that `filters` needs."""
    return filters.min_score is None and filters.evidence <= EVIDENCE_KEPT


def query_sql(filters: Filters, grouped: bool = True) -> Tuple[str, List[Any]]:
    """The SQL of `query_statements` and its parameters (filter values are never in the text):
    over `statement_groups` when `grouped` and `uses_groups(filters)`, else over `statements`."""
    if grouped and uses_groups(filters):
        where, params = _where(filters, grouped=True)
        members = ", ".join(f"{p}_text, {p}_value" for p in ROLES.values())
        sql = (f"SELECT gkey, abstracts, score, {members}, pa_target, evidence[1:?] AS evidence FROM statement_groups "
               f"WHERE {where} AND abstracts >= ? ORDER BY rank LIMIT ?")
        return sql, [max(filters.evidence, 1)] + params + [max(filters.min_abstracts, 1), max(filters.limit, 0)]
    where, params = _where(filters, grouped=False)
    members = ", ".join(f"any_value({p}_text) AS {p}_text, any_value({p}_value) AS {p}_value" for p in ROLES.values())
    spans = ", ".join(f"'{p}': [{p}_start, {p}_end]" for p in ROLES.values())
    sql = f"""
WITH s AS (SELECT * FROM statements WHERE {where}),
top AS (
    SELECT gkey, count(DISTINCT id) AS abstracts, max(score) AS score, {members}, mode(pa_target) AS pa_target
    FROM s GROUP BY gkey HAVING count(DISTINCT id) >= ?
    ORDER BY {group_order()} LIMIT ?
),
ev AS (
    SELECT gkey, list({{'id': id, 'score': score, 'spans': {{{spans}}}}} ORDER BY score DESC NULLS LAST, id, n) AS evidence
    FROM (SELECT * FROM s WHERE gkey IN (SELECT gkey FROM top)
          QUALIFY row_number() OVER (PARTITION BY gkey ORDER BY score DESC NULLS LAST, id, n) <= ?)
    GROUP BY gkey
)
SELECT top.*, ev.evidence FROM top JOIN ev USING (gkey)
ORDER BY {group_order('top.')}"""
    return sql, params + [max(filters.min_abstracts, 1), max(filters.limit, 0), max(filters.evidence, 1)]


def _has_groups(cursor: Any) -> bool:
    # A built index has them; the Parquet views (and an index of schema 1) do not.
    return bool(cursor.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'statement_groups'").fetchone()[0])


def query_statements(con: Any, filters: Filters) -> List[Dict[str, Any]]:
    """Statements grouped across abstracts by their members' normalised text and value, most
    abstracts first, then best score.

    con (duckdb.DuckDBPyConnection): an index (`open_index`) or a Parquet source (`parquet_source`).
    filters (Filters): what to select.
    RETURNS (List[Dict[str, Any]]): per group `members` (category → `text`, `value`, and
        `target` for PERTURBING_ACTION; categories without a member left out), `abstracts`,
        `score` (the best statement's) and `evidence` (up to `filters.evidence` statements:
        record `id`, `score`, `spans` category → [start, end] in the record's text).
    """
    cursor = con.cursor()
    try:
        grouped = _has_groups(cursor)
        sql, params = query_sql(filters, grouped)
        rel = cursor.execute(sql, params)
        columns = [d[0] for d in rel.description]
        rows = [dict(zip(columns, row)) for row in rel.fetchall()]
    finally:
        cursor.close()
    groups = []
    for row in rows:
        members = {}
        for role, p in ROLES.items():
            if row[f"{p}_text"] is None and row[f"{p}_value"] is None:
                continue
            members[role] = {"text": row[f"{p}_text"], "value": row[f"{p}_value"]}
            if p == "pa":
                members[role]["target"] = row["pa_target"]
        evidence = []
        for item in row["evidence"]:
            spans = {role: item["spans"][p] for role, p in ROLES.items() if item["spans"][p][0] is not None}
            evidence.append({"id": item["id"], "score": item["score"], "spans": spans})
        groups.append({"members": members, "abstracts": row["abstracts"], "score": row["score"], "evidence": evidence})
    return groups


def category_values(con: Any) -> Dict[str, List[str]]:
    """The values of each category in the index, most frequent first (the page's choices)."""
    cursor = con.cursor()
    try:
        table, count = ("statement_groups", "sum(statements)") if _has_groups(cursor) else ("statements", "count(*)")
        return {
            role: [r[0] for r in cursor.execute(
                f"SELECT {p}_value FROM {table} WHERE {p}_value IS NOT NULL AND {p}_value <> '' GROUP BY 1 ORDER BY {count} DESC, 1 LIMIT 500"
            ).fetchall()]
            for role, p in ROLES.items()
        }
    finally:
        cursor.close()


def record_text(con: Any, record_id: str) -> Optional[str]:
    """The abstract of record `record_id`, or None."""
    cursor = con.cursor()
    try:
        row = cursor.execute("SELECT text FROM records WHERE id = ? LIMIT 1", [record_id]).fetchone()
    finally:
        cursor.close()
    return row[0] if row else None


def _flat_row(group: Dict[str, Any]) -> Dict[str, Any]:
    row: Dict[str, Any] = {}
    for role in ROLES:
        member = group["members"].get(role, {})
        row[role] = member.get("text") or ""
        row[f"{role}_value"] = member.get("value") or ""
    row["abstracts"] = group["abstracts"]
    row["score"] = "" if group["score"] is None else f"{group['score']:.3f}"
    row["ids"] = " ".join(item["id"] for item in group["evidence"])
    return row


def format_groups(groups: List[Dict[str, Any]], fmt: str) -> str:
    """`groups` as `json` (the list as is), `csv` (one row per group: each category's text and
    value, abstracts, score, evidence ids) or `table` (the same columns, aligned).

    RAISES (ValueError): an unknown format.
    """
    if fmt == "json":
        return json.dumps(groups, ensure_ascii=False, indent=1)
    rows = [_flat_row(g) for g in groups]
    header = list(_flat_row({"members": {}, "abstracts": 0, "score": None, "evidence": []}))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "table":
        shown = ["abstracts", "score", *ROLES, "ids"]
        cells = [[str(r[c]) for c in shown] for r in rows]
        widths = [min(max([len(c)] + [len(row[i]) for row in cells]), 40) for i, c in enumerate(shown)]
        lines = ["  ".join(c.ljust(w)[:w] for c, w in zip(shown, widths))]
        lines += ["  ".join(v.ljust(w)[:w] for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}: table, json or csv")
